//! Rules of batch schedules: names, cron expressions and time zones, and when a schedule
//! fires. A schedule fires at most once per fire time and never backfills: after a gap
//! (the registry was down, or the schedule was paused) only the latest missed fire time is
//! created.

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

use capstan_client::types::MAX_SCHEDULE_NAME_LEN;

use super::error::{DomainError, DomainResult};

/// Longest cron expression.
const MAX_CRON_LEN: usize = 256;

/// A schedule's cron read in its time zone.
#[derive(Debug, Clone)]
pub struct Timetable {
    cron: Cron,
    zone: Tz,
}

/// Letters, digits, `.`, `_` and `-`, starting with a letter or digit; 1–128 characters.
pub fn check_schedule_name(name: &str) -> DomainResult<()> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if starts_well && rest_ok && name.len() <= MAX_SCHEDULE_NAME_LEN {
        Ok(())
    } else {
        Err(DomainError::InvalidScheduleName {
            name: name.chars().take(64).collect(),
        })
    }
}

impl Timetable {
    /// Five fields, or six with seconds first; `timezone` is an IANA name (`UTC`,
    /// `Europe/Paris`).
    pub fn parse(cron: &str, timezone: &str) -> DomainResult<Timetable> {
        let zone: Tz = timezone.parse().map_err(|_| DomainError::InvalidTimezone {
            timezone: timezone.chars().take(64).collect(),
        })?;
        let invalid = |reason: String| DomainError::InvalidCron {
            cron: cron.chars().take(64).collect(),
            reason,
        };
        if cron.len() > MAX_CRON_LEN || cron.chars().any(char::is_control) {
            return Err(invalid("it is too long or holds control characters".into()));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(cron)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Timetable { cron, zone })
    }

    /// The fire time due at `now`: the latest cron time at or before `now`, if it is after
    /// `last_fired` (the previous fire time, or when the schedule was created or resumed).
    pub fn due(&self, last_fired: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = self
            .cron
            .find_previous_occurrence(&self.local(now), true)
            .ok()?
            .with_timezone(&Utc);
        (latest > last_fired).then_some(latest)
    }

    /// `at` in the schedule's zone, to the whole second: cron times are whole seconds, and
    /// croner carries a time's fraction of a second into the times it finds.
    fn local(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.trunc_subsecs(0).with_timezone(&self.zone)
    }

    /// When it fires next, seen at `now`: the due fire time if one is waiting, else the
    /// first cron time after `now`.
    pub fn next(&self, last_fired: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.due(last_fired, now).or_else(|| {
            self.cron
                .find_next_occurrence(&self.local(now), false)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, h, m, s)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn a_missed_day_fires_only_its_latest_time() {
        let hourly = Timetable::parse("0 * * * *", "UTC").expect("a valid cron");
        // Last fired at 01:00, down until 05:30: only 05:00 is due.
        assert_eq!(hourly.due(at(1, 0, 0), at(5, 30, 0)), Some(at(5, 0, 0)));
        // A fraction of a second never makes a new fire time.
        let later = at(5, 30, 0) + chrono::Duration::milliseconds(900);
        assert_eq!(hourly.due(at(5, 0, 0), later), None);
        let every_second = Timetable::parse("* * * * * *", "UTC").expect("a valid cron");
        let fired = every_second.due(at(5, 0, 0), later).expect("a due time");
        assert_eq!(fired, at(5, 30, 0));
        assert_eq!(
            every_second.due(fired, later + chrono::Duration::milliseconds(50)),
            None
        );
        // Fired at 05:00 already: nothing is due until 06:00.
        assert_eq!(hourly.due(at(5, 0, 0), at(5, 30, 0)), None);
        assert_eq!(hourly.next(at(5, 0, 0), at(5, 30, 0)), Some(at(6, 0, 0)));
    }

    #[test]
    fn seconds_are_optional_and_the_zone_is_honoured() {
        let every_second = Timetable::parse("* * * * * *", "UTC").expect("a valid cron");
        assert_eq!(
            every_second.due(at(3, 0, 0), at(3, 0, 2)),
            Some(at(3, 0, 2))
        );
        // 03:00 in Paris is 02:00 UTC in winter.
        let paris = Timetable::parse("0 3 * * *", "Europe/Paris").expect("a valid cron");
        assert_eq!(paris.next(at(0, 0, 0), at(1, 0, 0)), Some(at(2, 0, 0)));
    }

    #[test]
    fn nonsense_is_refused() {
        for (cron, zone) in [
            ("", "UTC"),
            ("61 * * * *", "UTC"),
            ("* * *", "UTC"),
            ("0 3 * * *", "Mars/Olympus"),
            ("0 3 * * *\n", "UTC"),
        ] {
            assert!(Timetable::parse(cron, zone).is_err(), "{cron:?} in {zone}");
        }
        for name in ["", "-x", "a/b", "../x", "é"] {
            assert!(check_schedule_name(name).is_err(), "{name:?}");
        }
        check_schedule_name("nightly-bc_2.0").expect("a valid name");
    }
}
