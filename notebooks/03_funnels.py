# %% [markdown]
# # Funnels
#
# The funnels of the funnels file (`REVOLT_FUNNELS_FILE`; `revolt demo` writes its own): how many people who
# entered each funnel reached each step, and how long the steps took. The report tables hold the counts
# (`funnel_steps_weekly` per ISO week of entry); the lake's `funnel_progress` holds each person's progress, for
# questions the tables do not answer.

# %%
import matplotlib.pyplot as plt

from revolt_pipeline.lab import Lab
from revolt_pipeline.settings import Settings

lab = Lab(Settings.from_env())

# %% [markdown]
# ## Conversion by step
# Every week of entry added together (people entering in two weeks count twice).

# %%
steps = lab.report("funnel_steps_weekly")
totals = steps.groupby(["funnel", "step", "step_name"], as_index=False)[["entered", "reached"]].sum()
totals = totals[totals["entered"] > 0]
totals["conversion"] = (totals["reached"] / totals["entered"]).round(3)
funnels = list(totals["funnel"].unique())

figure, axes = plt.subplots(1, len(funnels), figsize=(5 * len(funnels), 3.5), squeeze=False)
for axis, funnel in zip(axes[0], funnels, strict=True):
    rows = totals[totals["funnel"] == funnel].sort_values("step", ascending=False)
    axis.barh(rows["step_name"], rows["reached"], color="tab:blue")
    for position, (reached, conversion) in enumerate(zip(rows["reached"], rows["conversion"], strict=True)):
        axis.annotate(f" {reached} ({conversion:.0%})", (reached, position), va="center")
    axis.set_title(funnel)
    axis.set_xlim(0, rows["reached"].max() * 1.4)
plt.tight_layout()
plt.show()
totals

# %% [markdown]
# ## Where people stop, by platform
# From each person's progress in the lake: the last step reached per funnel entry, on the platform they entered on.

# %%
lab.sql(
    """
    SELECT funnel, platform, count(*) AS entries,
           round(avg(steps_reached), 2) AS average_steps_reached,
           max(steps_reached) AS most_steps
    FROM funnel_progress
    GROUP BY ALL
    ORDER BY funnel, entries DESC
    """
).df()

# %% [markdown]
# ## Time between steps
# The median time from one step to the next, in minutes, over the weeks of entry.

# %%
timing = steps.dropna(subset=["median_seconds_from_previous"])
timing = timing[timing["reached"] > 0]
timing.assign(median_minutes=(timing["median_seconds_from_previous"] / 60).round(1)).pivot_table(
    index=["funnel", "step", "step_name"], columns="week_start", values="median_minutes"
)

# %%
lab.close()
