"""Landing: extract files from the inbox into schema raw, each row landed or rejected, with lineage and an audit."""
