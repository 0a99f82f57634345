# %% [markdown]
# # Retention and lifecycle
#
# Cohort retention and the lifecycle of active people, from the report tables the pipeline loads
# (`retention_daily`, `retention_weekly`, `lifecycle_daily`, `lifecycle_weekly`): exact distinct people after
# identity stitching. A cohort's period 0 is its own day (or ISO week); a cell is only shown once its period has
# been built (`as_of`), so the young cohorts' missing cells are not read as churn.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from revolt_pipeline.lab import Lab
from revolt_pipeline.settings import Settings

lab = Lab(Settings.from_env())
# first_seen: cohorts by first day seen, any activity returns. anchored: by the settings' start and return events.
DEFINITION = "first_seen"

# %% [markdown]
# ## Daily cohorts
# The share of each day's new people active again N days later.

# %%
daily = lab.report("retention_daily")
daily = daily[daily["definition"] == DEFINITION]
observed = daily[daily["cohort_date"] + pd.to_timedelta(daily["period"], unit="D") <= daily["as_of"]].copy()
observed["rate"] = observed["retained"] / observed["cohort_size"]
grid = observed.pivot(index="cohort_date", columns="period", values="rate")
grid.index = grid.index.strftime("%Y-%m-%d")
sizes = observed.groupby("cohort_date")["cohort_size"].first()

figure, axes = plt.subplots(figsize=(12, 0.45 * len(grid) + 1.5))
image = axes.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0, vmax=1)
axes.set_xticks(range(len(grid.columns)), grid.columns)
axes.set_yticks(range(len(grid.index)), [f"{day}  ({size})" for day, size in zip(grid.index, sizes, strict=True)])
axes.set_xlabel("days since the cohort's day")
axes.set_title("Daily cohorts (people in the cohort): share active on day N")
figure.colorbar(image, ax=axes, label="retained")
plt.show()

# %% [markdown]
# The retention curve over every cohort that has reached each day, weighted by cohort size; `retained_or_later`
# counts people active on day N or any later day (unbounded retention), which never rises.

# %%
curve = observed.groupby("period")[["retained", "retained_or_later", "cohort_size"]].sum()
curve = curve.assign(
    retained=curve["retained"] / curve["cohort_size"],
    retained_or_later=curve["retained_or_later"] / curve["cohort_size"],
)
axes = curve[["retained", "retained_or_later"]].plot(
    figsize=(9, 4), marker="o", ylim=(0, 1.05), title="Retention curve, all daily cohorts"
)
axes.set_xlabel("days since the cohort's day")
axes.set_ylabel("share of the cohort")
plt.show()
curve.head(8)

# %% [markdown]
# ## Weekly cohorts
# By ISO week (Monday); a week still in progress (`period_complete` false) is left out.

# %%
weekly = lab.report("retention_weekly")
weekly = weekly[(weekly["definition"] == DEFINITION) & weekly["period_complete"]]
weekly.assign(rate=(weekly["retained"] / weekly["cohort_size"]).round(3)).pivot(
    index=["cohort_week", "cohort_size"], columns="period", values="rate"
)

# %% [markdown]
# ## Lifecycle
# Each day's active people split into new, returning (active the day before too) and resurrecting (back after a
# gap); dormant people (active the day before, not today) are drawn below zero. New plus resurrecting against
# dormant is the quick ratio: above 1, the active base grows.


# %%
def lifecycle_chart(frame: pd.DataFrame, period: str, title: str) -> None:
    frame = frame.set_index(frame[period].dt.strftime("%Y-%m-%d"))
    parts = pd.DataFrame(
        {
            "new": frame["new_users"],
            "returning": frame["returning_users"],
            "resurrecting": frame["resurrecting_users"],
            "dormant": -frame["dormant_users"],
        }
    )
    axes = parts.plot.bar(
        stacked=True, figsize=(10, 4), color=["tab:green", "tab:blue", "tab:orange", "tab:red"], title=title
    )
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("people")
    plt.show()


lifecycle = lab.report("lifecycle_daily")
lifecycle_chart(lifecycle, "event_date", "Lifecycle of daily active people")
quick_ratio = (lifecycle["new_users"] + lifecycle["resurrecting_users"]) / lifecycle["dormant_users"].where(
    lifecycle["dormant_users"] > 0
)
lifecycle.assign(quick_ratio=quick_ratio.round(2))[
    ["event_date", "active_users", "new_users", "returning_users", "resurrecting_users", "dormant_users", "quick_ratio"]
]

# %%
weeks = lab.report("lifecycle_weekly")
lifecycle_chart(weeks, "week_start", "Lifecycle of weekly active people (a week in progress is as of its as_of)")
weeks[["week_start", "as_of", "final", "active_users", "new_users", "returning_users", "dormant_users"]]

# %%
lab.close()
