"""The embedded local default: hours run through Airflow in this process (``runner``), the Airflow UI
(``up``), where to run (``targets``) and what landed (``report``). It wires production code to the
``devtools`` stand-ins, as ``eventpipe.cli`` does; production packages import neither."""
