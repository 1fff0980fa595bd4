"""eventpipe: landing event logs -> raw warehouse tables -> dbt marts -> share -> deliveries."""

__version__ = "0.1.0"
