"""Who uses the demo product: teams, people, their devices, and how each device misbehaves."""

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

# (platform, source name, SDK library, whether it is a device someone holds)
PLATFORMS = {
    "web": ("tempo-web", "analytics.js", True),
    "desktop": ("tempo-desktop", "analytics-node", True),
    "ios": ("tempo-ios", "analytics-ios", True),
    "android": ("tempo-android", "analytics-android", True),
    "slack": ("tempo-slack", "analytics-go", False),
    "hangouts": ("tempo-hangouts", "analytics-go", False),
    "google-assistant": ("tempo-assistant", "analytics-java", False),
}
# Where people work from: (IANA time zone, UTC offset in hours in late November, locale).
REGIONS = [
    ("America/Los_Angeles", -8, "en-US"),
    ("America/New_York", -5, "en-US"),
    ("America/Sao_Paulo", -3, "pt-BR"),
    ("Europe/London", 0, "en-GB"),
    ("Europe/Berlin", 1, "de-DE"),
    ("Europe/Madrid", 1, "es-ES"),
    ("Asia/Kolkata", 5.5, "en-IN"),
    ("Asia/Tokyo", 9, "ja-JP"),
    ("Australia/Sydney", 11, "en-AU"),
]
# The country of each region, and a public /24 network the shipped IP database (iptocc) assigns to that country:
# half the devices people hold send an address of it as context.ip, as an app's backend forwarding the user's
# address would (the demo never connects to them). The others are found by their time zone.
REGION_COUNTRIES = {
    "America/Los_Angeles": ("US", "8.8.8."),
    "America/New_York": ("US", "4.2.2."),
    "America/Sao_Paulo": ("BR", "200.160.0."),
    "Europe/London": ("GB", "212.58.244."),
    "Europe/Berlin": ("DE", "193.99.144."),
    "Europe/Madrid": ("ES", "130.206.1."),
    "Asia/Kolkata": ("IN", "164.100.1."),
    "Asia/Tokyo": ("JP", "133.1.1."),
    "Australia/Sydney": ("AU", "1.1.1."),
}
DEVICE_MODELS = {
    "web": [
        ("Chrome", "macOS", "15.1", "Apple", "MacBookPro18,3"),
        ("Firefox", "Windows", "11", "Dell", "XPS 13"),
        ("Safari", "macOS", "14.6", "Apple", "MacBookAir10,1"),
        ("Edge", "Windows", "10", "Lenovo", "T14"),
    ],
    "desktop": [
        ("Tempo Desktop", "macOS", "15.1", "Apple", "Macmini9,1"),
        ("Tempo Desktop", "Windows", "11", "HP", "EliteBook"),
        ("Tempo Desktop", "Linux", "6.8", "Framework", "Laptop 13"),
    ],
    "ios": [
        ("iPhone", "iOS", "18.1", "Apple", "iPhone16,2"),
        ("iPhone", "iOS", "17.6", "Apple", "iPhone14,5"),
        ("iPad", "iPadOS", "18.1", "Apple", "iPad13,4"),
    ],
    "android": [
        ("Pixel", "Android", "15", "Google", "Pixel 9"),
        ("Galaxy", "Android", "14", "Samsung", "SM-S921B"),
        ("Redmi", "Android", "13", "Xiaomi", "23049PCD8G"),
    ],
    "slack": [("Slack bot", "Linux", "6.1", "Tempo", "slack-bot")],
    "hangouts": [("Chat bot", "Linux", "6.1", "Tempo", "chat-bot")],
    "google-assistant": [("Assistant action", "Linux", "6.1", "Google", "assistant")],
}
# A release train: the newer version reaches a share of devices from a day of the window on.
APP_VERSIONS = {
    "web": ("2026.11.2", "2026.11.3", 2, 1.0),
    "desktop": ("3.8.1", "3.9.0", 3, 0.6),
    "ios": ("4.2.0", "4.3.0", 2, 0.7),
    "android": ("4.1.5", "4.3.0", 4, 0.5),
    "slack": ("1.12.0", "1.12.0", 0, 0.0),
    "hangouts": ("0.9.4", "0.9.4", 0, 0.0),
    "google-assistant": ("2.0.1", "2.0.1", 0, 0.0),
}


FADE_PER_DAY = 0.45
# Churn planted for the churn model, in windows of at least PLANTED_CHURN_MIN_DAYS (28 days of features and a
# 14-day label after them): a share of the customers who were not going to churn leave on a day from
# PLANTED_CHURN_FIRST_DAY on (the window's second day: the training cutoffs, early in the window, see leavers too),
# their activity decaying by CHURN_DECAY_PER_DAY over CHURN_DECAY_DAYS before (or bursting, below).
PLANTED_CHURN_MIN_DAYS = 42
# Churn and breaks depend on how much a customer uses the product and on how many of its apps they hold, crosswise
# (an exclusive or, which no weighted sum of the two can draw). In these windows half the customers are light users
# (LIGHT_ACTIVITY sessions per working day) and half heavy ones (HEAVY_ACTIVITY): a few check-ins a week or all
# day long, with little in between. Two or more of the platforms with views (web, desktop, phones) is anchored. A
# light user of one app (who never settled in) and a heavy user of several (a team's admin, who moves the team
# elsewhere) leave; a light user of several apps and a heavy user of one take breaks of BREAK_DAYS (inclusive) every
# few weeks (BREAK_GAP_DAYS of work apart: a week or two off between engagements) and come back. A silence of a
# week or more then means churn for one and a break for the other, and only a model that combines usage with the
# apps held tells which. Breaks stop short of the label's two weeks: a longer silence means churn for almost everyone,
# and a break that starts on a cutoff is rarely a churn label that no model could foresee.
# The shares are set so that neither usage nor the apps held alone says anything of churn (about 59% of customers
# are anchored, so the anchored cells' shares are nearer the middle): the whole signal is in the combination. When
# the cells were unbalanced (more heavy and anchored customers than others), most of it was a main effect of the
# apps held, which logistic regression fits, and its lead stayed within noise (issue 9; benchmarks/churn_margin.py
# measures the lead seed by seed and first day by first day, benchmarks/README.md has the history).
LIGHT_ACTIVITY = (0.6, 1.3)
HEAVY_ACTIVITY = (2.3, 3.2)
VIEW_PLATFORMS = ("web", "desktop", "ios", "android")
PLANTED_CHURN_SHARE = {
    ("light", "single"): 0.78,
    ("light", "anchored"): 0.13,
    ("heavy", "single"): 0.02,
    ("heavy", "anchored"): 0.67,
}
PLANTED_BREAK_SHARE = {
    ("light", "single"): 0.12,
    ("light", "anchored"): 0.88,
    ("heavy", "single"): 0.98,
    ("heavy", "anchored"): 0.23,
}
BREAK_DAYS = (5, 12)
BREAK_GAP_DAYS = (7, 21)  # days of work between two breaks of the same person
PLANTED_CHURN_FIRST_DAY = 1
CHURN_DECAY_DAYS = 14
CHURN_DECAY_PER_DAY = 0.82
# Other churners use the product little (this share of their sessions), then in their last days all of it (taking
# their data out), then leave: a rising trend before churn, where the others' falls.
EXPORTING_CHURNERS = {"single": 0.5, "anchored": 0.8}
EXPORT_USUAL_SHARE = 0.1
EXPORT_BURST_ACTIVITY = 2.0  # times their usual sessions per day, during the burst
EXPORT_BURST_DAYS = 6


def device_ip(device: "Device", region: tuple[str, float, str]) -> str | None:
    """The address a device sends as context.ip, or None (then its country comes from its time zone).

    Decided from the device's id, not the random generator, so the traffic itself is the same as without it.
    """
    if not PLATFORMS[device.platform][2] or int(device.device_id[:8], 16) % 2:
        return None
    return f"{REGION_COUNTRIES[region[0]][1]}{1 + device.index % 254}"


def stable_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Device:
    index: int
    platform: str
    anonymous_id: str | None  # bots and voice act for a known user and have none
    browser_or_app: str
    os_name: str
    os_version: str
    manufacturer: str
    model: str
    device_id: str
    skew: timedelta  # how wrong this device's clock is
    upgrade_day: int | None  # day of the window the newer app version arrives, if ever
    identified: bool = False

    @property
    def source(self) -> str:
        return PLATFORMS[self.platform][0]

    def app_version(self, day_number: int) -> str:
        old, new, _, _ = APP_VERSIONS[self.platform]
        return new if self.upgrade_day is not None and day_number >= self.upgrade_day else old


@dataclass
class Person:
    index: int
    user_id: str | None  # None for visitors who never sign up
    team_id: str
    region: tuple[str, float, str]
    activity: float  # expected sessions per working day
    signup_day: int | None  # day of the window they sign up on, None if they were users already
    churn_day: int | None  # first day of the window they are gone
    devices: list[Device] = field(default_factory=list)
    device_weights: list[float] = field(default_factory=list)
    # Planted for retention to find: people who sign up in the window and install the desktop app keep coming
    # back; those who sign up and stay on the web (or phones, bots) fade day after day.
    fades: bool = False
    # Planted for segments and recommendations to find (`plant_personas`): the persona of a customer, and the day
    # of the window from which they use each feature of their persona's habitual chain (None: not in the window).
    persona: str | None = None
    adoption_days: tuple[int | None, ...] = ()
    # Planted for the churn model (`plant_churn`): in a window long enough to learn churn, how a churner leaves:
    # "decay" (less and less over the days before) or "export" (little use, then a burst, then gone).
    churn_style: str | None = None
    # Planted too: the breaks of a customer who stays, each days of the window [first, last) without activity. A long
    # silence alone does not mean churn: the model must tell a break from a decay.
    break_days: tuple[tuple[int, int], ...] = ()

    def churn_keep_rate(self, day_number: int) -> float:
        """How much of their usual activity a person keeps on a day: for a churner, less and less over the decay
        before their `churn_day`, or a share until a burst of all of it just before; none on a break; all of
        it otherwise (and always, outside windows with planted churn)."""
        if any(first <= day_number < last for first, last in self.break_days):
            return 0.0
        if self.churn_style is None or self.churn_day is None:
            return 1.0
        if self.churn_style == "export":
            return 1.0 if day_number >= self.churn_day - EXPORT_BURST_DAYS else EXPORT_USUAL_SHARE
        into_decay = day_number - (self.churn_day - CHURN_DECAY_DAYS) + 1
        return 1.0 if into_decay <= 0 else CHURN_DECAY_PER_DAY**into_decay

    def return_rate(self, day_number: int) -> float:
        """How much of their usual activity a person keeps on a day of the window, after signing up."""
        if not self.fades or self.signup_day is None or day_number <= self.signup_day:
            return 1.0
        return FADE_PER_DAY ** (day_number - self.signup_day)

    @property
    def key(self) -> str:
        """The identity the pipeline should end up with after stitching."""
        if self.user_id is not None:
            return self.user_id
        assert self.devices[0].anonymous_id is not None
        return self.devices[0].anonymous_id


def _device(rng: random.Random, index: int, platform: str) -> Device:
    app, os_name, os_version, manufacturer, model = rng.choice(DEVICE_MODELS[platform])
    holds = PLATFORMS[platform][2]
    skew = timedelta(0)
    if holds and rng.random() < 0.12:
        # Wrong clocks: a few minutes to a day off, in either direction; now and then years off (a reset).
        if rng.random() < 0.15:
            skew = timedelta(days=-rng.randint(365 * 5, 365 * 56))
        else:
            skew = timedelta(seconds=rng.choice([-1, 1]) * rng.uniform(60, 86_400))
        skew = timedelta(milliseconds=round(skew.total_seconds() * 1000))
    _, _, upgrade_day, share = APP_VERSIONS[platform]
    return Device(
        index=index,
        platform=platform,
        anonymous_id=stable_uuid(rng) if holds else None,
        browser_or_app=app,
        os_name=os_name,
        os_version=os_version,
        manufacturer=manufacturer,
        model=model,
        device_id=stable_uuid(rng),
        skew=skew,
        upgrade_day=upgrade_day + rng.randint(0, 2) if rng.random() < share else None,
    )


def build_population(rng: random.Random, users: int, days: int) -> list[Person]:
    """`users` people: most are customers in teams, some sign up during the window, some only visit."""
    people: list[Person] = []
    device_index = 0
    team_count = max(1, users // 7)
    for index in range(users):
        roll = rng.random()
        visitor = roll < 0.12
        new_user = not visitor and roll < 0.27
        user_id = None if visitor else f"user-{index:05d}"
        person = Person(
            index=index,
            user_id=user_id,
            team_id=f"team-{rng.randrange(team_count):04d}",
            region=rng.choice(REGIONS),
            activity=rng.uniform(0.2, 0.8) if visitor else rng.uniform(0.6, 3.2),
            signup_day=rng.randrange(days) if new_user else None,
            # Nobody churns in a one-day window (there is no later day); the check keeps other seeds' draws.
            churn_day=rng.randrange(1, days) if not visitor and days > 1 and rng.random() < 0.12 else None,
        )
        platforms = ["web"] if visitor or new_user or rng.random() < 0.75 else []
        if not visitor:
            for platform, chance in (
                ("desktop", 0.35),
                ("ios", 0.35),
                ("android", 0.3),
                ("slack", 0.3),
                ("hangouts", 0.08),
                ("google-assistant", 0.1),
            ):
                if rng.random() < chance:
                    platforms.append(platform)
            if not platforms:
                platforms.append(rng.choice(["desktop", "ios", "android"]))
        for platform in platforms:
            person.devices.append(_device(rng, device_index, platform))
            person.device_weights.append({"web": 3.0, "desktop": 3.0, "ios": 2.0, "android": 2.0}.get(platform, 0.7))
            device_index += 1
        person.fades = new_user and "desktop" not in platforms
        people.append(person)
    return people


# Personas of the customers, planted for the segments and the recommendations to find (issue 9): each uses
# features of its own, always in the same order in a session (a habit: after `Client Added` comes `Rate Set`),
# and takes them up one after another over the window, so a feature a person starts using later is the next of
# their chain. Share of customers, the views they use the features on, the chain.
PERSONAS: dict[str, tuple[float, tuple[str, ...]]] = {
    "billing": (0.35, ("Client Added", "Rate Set", "Invoice Drafted", "Invoice Sent", "Payment Recorded")),
    "managers": (0.25, ("Team Invited", "Approval Requested", "Timesheet Approved", "Budget Set", "Forecast Viewed")),
    "trackers": (0.25, ("Tag Added", "Goal Set", "Reminder Set", "Pomodoro Started", "Streak Viewed")),
    "integrators": (0.15, ("Integration Connected", "Calendar Synced", "Webhook Added", "Key Created", "Rule Added")),
}
# How often a session on a device with views runs the person's chain, and continues it at each step. Half the
# sessions: in 70% of them, persona events weighed enough in the churn model's features that, on the `--ml`
# history, logistic regression edged past gradient boosting (ROC AUC 0.955 against 0.953) and failed its check.
HABIT_SESSION_SHARE = 0.5
HABIT_CONTINUES = 0.85
# The chain's later features are taken up at uniform days over this many windows: some never in the window.
ADOPTION_SPREAD = 1.25


def plant_personas(people: list[Person], seed: int, days: int) -> None:
    """Give every customer (not visitors) a persona and the days they take up its features.

    Drawn from a generator of each person's own (seeded by the plan's seed and the person), never the plan's:
    the rest of the traffic stays what it was."""
    names = list(PERSONAS)
    shares = [share for share, _ in PERSONAS.values()]
    for person in people:
        if person.user_id is None:
            continue
        rng = random.Random(f"persona:{seed}:{person.index}")
        person.persona = rng.choices(names, weights=shares)[0]
        first = person.signup_day or 0
        later = sorted(first + rng.uniform(0, days * ADOPTION_SPREAD) for _ in PERSONAS[person.persona][1][1:])
        person.adoption_days = tuple(day if day < days else None for day in (first, *(int(d) for d in later)))


def habitual_features(person: Person, platform: str, day_number: int, rng: random.Random) -> list[str]:
    """The persona features a person uses in a session, in their habitual order: the chain from its start, through
    the features taken up by `day_number`, stopping early now and then. Only on devices with views (not bots)."""
    if person.persona is None or not PLATFORMS[platform][2] or rng.random() >= HABIT_SESSION_SHARE:
        return []
    used = []
    for feature, since in zip(PERSONAS[person.persona][1], person.adoption_days, strict=True):
        if since is None or since > day_number or (used and rng.random() >= HABIT_CONTINUES):
            break
        used.append(feature)
    return used


def plant_churn(people: list[Person], seed: int, days: int) -> None:
    """Churn with a warning sign, for the churn model to learn: in a window of PLANTED_CHURN_MIN_DAYS or more,
    customers (neither visitors nor new sign-ups) are made light or heavy users, half and half; a share of them leave
    on a day from PLANTED_CHURN_FIRST_DAY on, their activity decaying before they go or bursting after little use,
    and a share of those who stay take breaks of one to two weeks without any activity every few weeks
    (`Person.churn_keep_rate`); who leaves and who takes breaks depends on their usage and the apps they hold
    crosswise (`churn_kind`, PLANTED_CHURN_SHARE), and most leavers who hold several take their data out in a burst
    (twice their usual use) where the others' use decays.

    Decided by a generator of each person's own, seeded from the seed and the person, so the plan's own draws are
    the ones they were (the traffic they plan changes with the usage); shorter windows (the default demo) are left
    exactly as they were."""
    if days < PLANTED_CHURN_MIN_DAYS:
        return
    for person in people:
        draws = random.Random(f"churn:{seed}:{person.index}")
        customer = person.user_id is not None and person.signup_day is None
        if customer:
            person.activity = draws.uniform(*(HEAVY_ACTIVITY if draws.random() < 0.5 else LIGHT_ACTIVITY))
        kind = churn_kind(person)
        if customer and person.churn_day is None and draws.random() < PLANTED_CHURN_SHARE[kind]:
            person.churn_day = draws.randrange(PLANTED_CHURN_FIRST_DAY, days)
        if person.churn_day is not None:
            person.churn_style = "export" if draws.random() < EXPORTING_CHURNERS[kind[1]] else "decay"
            if person.churn_style == "export":
                person.activity *= EXPORT_BURST_ACTIVITY
        if customer and person.churn_day is None and draws.random() < PLANTED_BREAK_SHARE[kind]:
            first, breaks = draws.randrange(0, sum(BREAK_GAP_DAYS) // 2), []
            while first < days:
                breaks.append((first, first + draws.randint(*BREAK_DAYS)))
                first = breaks[-1][1] + draws.randint(*BREAK_GAP_DAYS)
            person.break_days = tuple(breaks)


def churn_kind(person: Person) -> tuple[str, str]:
    """How much a person uses the product ("light" or "heavy") and how many of its apps they hold ("single" or
    "anchored"): the two together, crosswise, decide how likely they leave or take a break."""
    usage = "heavy" if person.activity >= HEAVY_ACTIVITY[0] else "light"
    views = {device.platform for device in person.devices} & set(VIEW_PLATFORMS)
    return usage, "anchored" if len(views) >= 2 else "single"
