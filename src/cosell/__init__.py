"""Co-sell warehouse: landing, quality gates, dbt build, publishing and partner payouts."""

import os

# The product never phones home: the one list of the settings that turn off the telemetry of every
# component (dbt, Great Expectations, Airflow, Streamlit). Importing cosell sets them in this
# process unless an operator explicitly set them; every child process (dbt, Airflow, the dashboard)
# gets them from cosell.build.dbt.dbt_env / cosell.orchestration.airflow_tasks (which read this dict).
TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DBT_VERSION_CHECK": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
}
for _name, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_name, _value)

# Great Expectations imports pyspark whenever it is installed (the `spark` extra); pyspark then
# warns on every import that it does not fully support pandas 3. Spark never sees pandas here
# (dbt-spark runs SQL), so the warning would only break the one-line output of every command.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
