"""The built-in analytics dashboard: pages over the report database, served by `revolt dashboard`."""
