"""Co-sell warehouse: landing, quality gates, dbt build, publishing and partner payouts."""

import os

# The product never phones home: telemetry of every component is off unless an operator
# explicitly turns it back on in the environment.
for _name, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
}.items():
    os.environ.setdefault(_name, _value)

# Great Expectations imports pyspark whenever it is installed (the `spark` extra); pyspark then
# warns on every import that it does not fully support pandas 3. Spark never sees pandas here
# (dbt-spark runs SQL), so the warning would only break the one-line output of every command.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
