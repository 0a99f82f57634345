# %% [markdown]
# # Behavioural segments
#
# The segments `ml_job`'s `segment_model` finds as of a day: every person active in the 28 days before its cutoff
# profiled (how often they come, on which platform, how intensely, which features they use), clustered with
# k-means for each number of segments in a range, the number kept by silhouette, and each segment described in
# plain words from its centre. Read from the store: `models/segments/as_of_date=D/model.json` (silhouettes,
# centres, descriptions), the lake layers `segments/segment_profiles` (each person's profile and segment) and
# `segments/person_segments`; and the report table `segment_sizes`.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from revolt_pipeline.lab import Lab
from revolt_pipeline.ml.segments import clustering_space
from revolt_pipeline.settings import Settings

lab = Lab(Settings.from_env())

models = {
    key.split("/")[2].removeprefix("as_of_date="): lab.get_json(key)
    for key in lab.keys("models/segments")
    if key.endswith("/model.json")
}
as_of = max(day for day, model in models.items() if model["segments"])
model = models[as_of]
print(f"segments stored as of {len(models)} day(s), the latest as of {as_of} (cutoff {model['cutoff']})")
print(f"{model['people']} people profiled over {model['profile_days']} days, {model['segments']} segments")

# %% [markdown]
# ## How many segments?
# The silhouette of each number of segments tried: how much closer people are to their own segment's centre than
# to the next one's (1 is perfectly apart, 0 no structure). The best is kept; a tie goes to fewer segments.

# %%
silhouettes = pd.Series({int(k): score for k, score in model["silhouettes"].items()}).sort_index()
figure, axis = plt.subplots(figsize=(6, 3.2))
axis.plot(silhouettes.index, silhouettes.to_numpy(), marker="o")
axis.axvline(model["segments"], color="tab:red", linestyle=":", label=f"kept: {model['segments']}")
axis.set(xlabel="number of segments (k)", ylabel="silhouette")
axis.legend()
plt.show()

# %% [markdown]
# ## What each segment is
# Each segment's centre, feature by feature, in standard deviations from everyone's mean (red: far more than
# others, blue: far less; the colours stop at 3), beside its plain-words description and size. `item:` columns
# are the share of a person's feature use going to that event; `platform:` the share whose primary platform it is.


# %%
def read_profiles(day: str) -> tuple[pd.DataFrame, pd.Series]:
    """The behaviour profile of each person segmented as of `day` (one row per person), and their segment."""
    rows = lab.layer("segments/segment_profiles", since=day, until=day).df()
    rows = rows.drop(columns=["as_of_date"]).set_index("person_id").sort_index()
    return rows.drop(columns=["segment"]).dropna(axis=1, how="all"), rows["segment"]


profile, segment_of = read_profiles(as_of)
mean, spread = profile.mean(), profile.std().replace(0.0, 1.0)
scaled_centres = (profile.groupby(segment_of).mean() - mean) / spread
sizes = segment_of.value_counts().sort_index()
names = {k: f"{k}: {model['descriptions'][str(k)]} ({sizes[k]})" for k in scaled_centres.index}
columns = [column.replace("item: track: ", "item: ") for column in scaled_centres.columns]

figure, axis = plt.subplots(figsize=(max(8, 0.32 * len(columns)), 0.55 * len(names) + 2.5))
image = axis.imshow(scaled_centres.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
axis.set_yticks(range(len(names)), list(names.values()))
axis.set_xticks(range(len(columns)), columns, rotation=90)
figure.colorbar(image, ax=axis, label="standard deviations from everyone's mean", shrink=0.8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The centres in the profile's own units, as stored with the model: the same means as the heatmap's, before
# scaling.

# %%
pd.DataFrame(model["centres"]).T.rename_axis("segment").round(3)

# %% [markdown]
# ## The segments in two dimensions
# What k-means saw (`ml/segments.clustering_space`: feature use as square roots of its shares, weighted by how
# rare each feature is, beside the activity and platform columns scaled down), projected on its two principal
# components. Segments that overlap here may still be apart in the other dimensions.

# %%
space = clustering_space(profile)
projection = PCA(n_components=2, random_state=0).fit(space)
points = projection.transform(space)
figure, axis = plt.subplots(figsize=(7, 5.5))
for segment in sizes.index:
    members = (segment_of == segment).to_numpy()
    axis.scatter(points[members, 0], points[members, 1], s=12, alpha=0.7, label=names[segment])
explained = projection.explained_variance_ratio_
axis.set(xlabel=f"first component ({explained[0]:.0%} of the variance)")
axis.set(ylabel=f"second component ({explained[1]:.0%})")
axis.legend(fontsize="small", loc="center left", bbox_to_anchor=(1, 0.5))
plt.show()

# %% [markdown]
# ## Segment sizes over time
# Segments are numbered by size on each day and fitted afresh, so the same behaviour may carry another number, or
# slightly other words, on another day. To follow the latest segments back, each earlier day's segment is matched
# to the latest segment whose centre is nearest (in the latest day's standard deviations, over the features both
# days profiled), and the people of the segments matched to one are added up.


# %%
def matched_sizes(day: str) -> pd.Series:
    """The people of `day`'s segments, by the latest segment nearest to each one's centre."""
    day_profile, day_segments = read_profiles(day)
    common = [column for column in profile.columns if column in day_profile.columns]
    centres = (day_profile[common].groupby(day_segments).mean() - mean[common]) / spread[common]
    latest = scaled_centres[common].to_numpy()
    distances = ((centres.to_numpy()[:, np.newaxis, :] - latest[np.newaxis, :, :]) ** 2).sum(axis=2)
    nearest = dict(zip(centres.index, scaled_centres.index[distances.argmin(axis=1)], strict=True))
    return day_segments.map(nearest).value_counts()


segmented_days = sorted(day for day, described in models.items() if described["segments"])
over_time = pd.DataFrame({day: matched_sizes(day) for day in segmented_days}).T.fillna(0).astype(int)
over_time = over_time.rename(columns=names).rename_axis("as_of_date")
figure, axis = plt.subplots(figsize=(9, 4))
over_time.plot.bar(stacked=True, ax=axis, rot=0, ylabel="people", xlabel="segments as of")
axis.legend(fontsize="small", loc="center left", bbox_to_anchor=(1, 0.5))
plt.show()
over_time.T

# %% [markdown]
# Each day's own segments as `segment_sizes` holds them (the report table), with that day's descriptions.

# %%
lab.report("segment_sizes").set_index(["as_of_date", "segment"]).round(3)


# %% [markdown]
# ## Do segments stay differently?
# The people of each segment of the earliest day segmented with two weeks of history after it: the share active
# again in those 14 days (from the lake's person days).

# %%
last_day = pd.Timestamp(lab.lake_layer("person_days").last)
followed = [day for day in segmented_days if pd.Timestamp(day) + pd.Timedelta(days=14) <= last_day]
if followed:
    stayed = lab.sql(
        """
        WITH segmented AS (
            SELECT person_id, segment, description, CAST(as_of_date AS DATE) AS as_of_date
            FROM "segments/person_segments" WHERE CAST(as_of_date AS DATE) = CAST(? AS DATE)
        ),
        returned AS (
            SELECT DISTINCT s.person_id
            FROM segmented AS s JOIN person_days AS d USING (person_id)
            WHERE d.event_date > s.as_of_date AND d.event_date <= s.as_of_date + 14
        )
        SELECT segment, description, count(*) AS people,
               round(count(returned.person_id) / count(*), 3) AS active_in_next_14_days
        FROM segmented LEFT JOIN returned USING (person_id)
        GROUP BY ALL ORDER BY segment
        """,
        [followed[0]],
    ).df()
    print(f"segments as of {followed[0]}")
    stayed.plot.barh(x="description", y="active_in_next_14_days", legend=False, figsize=(7, 3.5))
    plt.xlabel("share active in the 14 days after")
    plt.show()
else:
    stayed = "no day segmented has 14 days of history after it yet: run ml_job for an earlier day"
stayed

# %%
lab.close()
