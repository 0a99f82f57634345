# %% [markdown]
# # Events, sessions and people
#
# What the lake holds, read with DuckDB: every Parquet layer of the store is a table named after its folder
# (`events`, `sessions`, `people`; nested ones quoted, `"aggregates/events_daily"`). The store and the report
# database are the ones the `REVOLT_*` settings of the shell that started Jupyter name: `revolt demo`'s by default.

# %%
import matplotlib.pyplot as plt

from revolt_pipeline.lab import Lab
from revolt_pipeline.settings import Settings

lab = Lab(Settings.from_env())
lab

# %% [markdown]
# ## The layers
# One row per layer: its partition column and the first and last partition in the store.

# %%
lab.describe()

# %% [markdown]
# ## Events
# Cleaned events by day and type (`track`, `page`, `screen`, `identify`...), in UTC days.

# %%
by_type = lab.sql(
    """
    SELECT event_date, type, count(*) AS events
    FROM events
    GROUP BY ALL
    ORDER BY event_date, type
    """
).df()
by_type.pivot(index="event_date", columns="type", values="events").fillna(0).plot.bar(
    stacked=True, figsize=(9, 4), title="Events per day, by type", ylabel="events"
)
plt.show()

# %% [markdown]
# The most used events: how often each is sent, and by how many people.

# %%
lab.sql(
    """
    SELECT coalesce(event_name, type) AS event, count(*) AS events, count(DISTINCT person_id) AS people
    FROM events
    GROUP BY ALL
    ORDER BY events DESC
    LIMIT 12
    """
).df()

# %% [markdown]
# When people use the product: events per hour of the day, in UTC and on each platform.

# %%
by_hour = lab.sql(
    """
    SELECT hour(event_time) AS hour, platform, count(*) AS events
    FROM events
    GROUP BY ALL
    """
).df()
by_hour.pivot(index="hour", columns="platform", values="events").fillna(0).plot(
    figsize=(9, 4), title="Events per hour of the day (UTC)", ylabel="events", xticks=range(0, 24, 2)
)
plt.show()

# %% [markdown]
# ## Sessions
# How long sessions last and how many events they hold, by platform. A session ends after the inactivity
# timeout (`REVOLT_SESSION_TIMEOUT_MINUTES`).

# %%
lab.sql(
    """
    SELECT platform,
           count(*) AS sessions,
           round(median(duration_seconds) / 60, 1) AS median_minutes,
           round(quantile_cont(duration_seconds, 0.9) / 60, 1) AS p90_minutes,
           round(avg(events), 1) AS events_per_session
    FROM sessions
    GROUP BY ALL
    ORDER BY sessions DESC
    """
).df()

# %%
durations = lab.sql("SELECT duration_seconds / 60 AS minutes FROM sessions").df()
durations["minutes"].plot.hist(bins=40, figsize=(9, 4), title="Session length", log=True).set_xlabel("minutes")
plt.show()

# %% [markdown]
# ## People
# The latest people snapshot: everyone seen so far, after identity stitching (anonymous visits joined to the
# user they later identified as).

# %%
people = lab.latest("people").df()
print(f"{len(people)} people, {people['identified'].sum()} identified, as of {people['snapshot_date'].max():%Y-%m-%d}")
people[["first_platform", "last_platform", "country", "days_active", "sessions", "events"]].describe(include="all")

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
people["days_active"].value_counts().sort_index().plot.bar(ax=left, title="Days active per person", xlabel="days")
people["first_platform"].value_counts().plot.barh(ax=right, title="Platform first seen on")
plt.tight_layout()
plt.show()

# %% [markdown]
# New people per day: when each was first seen.

# %%
lab.sql(
    """
    SELECT first_seen, count(*) AS new_people
    FROM people
    WHERE snapshot_date = (SELECT max(snapshot_date) FROM people)
    GROUP BY ALL
    ORDER BY first_seen
    """
).df().plot.bar(x="first_seen", y="new_people", figsize=(9, 3), legend=False, title="New people per day")
plt.show()

# %% [markdown]
# ## The lake and the report tables agree
# Daily active people counted from the events here, beside the `daily_active_users` report table the pipeline
# loaded (a BI tool's view of the same days).

# %%
from_lake = lab.sql(
    "SELECT event_date, count(DISTINCT person_id) AS from_lake FROM events GROUP BY ALL ORDER BY event_date"
).df()
from_reports = lab.report("daily_active_users", columns=["event_date", "active_users"])
compared = from_lake.merge(from_reports, on="event_date", how="outer").fillna({"from_lake": 0})
compared = compared.astype({"from_lake": int}).assign(agree=lambda frame: frame["from_lake"] == frame["active_users"])
compared

# %%
lab.close()
