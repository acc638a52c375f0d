//! Cron schedules from posture intervals. Start minutes and hours are spread by a hash of
//! the subject, so hundreds of environments do not all back up at the same second.
//! [`largest_gap`] runs a schedule over a two-year calendar, so that alert thresholds
//! follow the gaps the schedule really produces (a "twice a month" schedule has 17-day
//! gaps, not 14).

use sha2::{Digest, Sha256};
use ward_estate::units::Duration;

fn spread(subject: &str, modulo: u64) -> u64 {
    let h = Sha256::digest(subject.as_bytes());
    let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    n % modulo.max(1)
}

/// A five-field cron schedule (Kubernetes `CronJob`) that fires at least every `interval`.
pub fn every(interval: Duration, subject: &str) -> String {
    let minutes = (interval.as_secs() / 60).max(1);
    let minute = spread(subject, 60);
    if minutes < 60 {
        // The largest divisor of 60 not above the interval keeps runs evenly spaced.
        let step = (1..=minutes).rev().find(|d| 60 % d == 0).unwrap_or(1);
        let start = minute % step;
        return if step == 1 {
            "* * * * *".into()
        } else {
            format!("{start}-59/{step} * * * *")
        };
    }
    let hours = minutes / 60;
    if hours < 24 {
        let step = (1..=hours).rev().find(|d| 24 % d == 0).unwrap_or(1);
        let start = spread(subject, step);
        return if step == 1 {
            format!("{minute} * * * *")
        } else {
            format!("{minute} {start}-23/{step} * * *")
        };
    }
    // Daily and longer runs go in the quiet hours, 01:00 to 04:59 UTC.
    let hour = 1 + spread(subject, 4);
    let days = hours / 24;
    match days {
        0..=1 => format!("{minute} {hour} * * *"),
        2..=6 => format!("{minute} {hour} */{days} * *"),
        7..=13 => format!("{minute} {hour} * * {}", spread(subject, 7)),
        14..=27 => {
            let first = 1 + spread(subject, 14);
            format!("{minute} {hour} {first},{} * *", first + 14)
        }
        28..=59 => format!("{minute} {hour} {} * *", 1 + spread(subject, 28)),
        _ => {
            let months = (days / 30).clamp(1, 12);
            let step = (1..=months).rev().find(|d| 12 % d == 0).unwrap_or(1);
            format!("{minute} {hour} {} */{step} *", 1 + spread(subject, 28))
        }
    }
}

/// The same schedule with a leading seconds field, as CloudNativePG reads it.
pub fn every_with_seconds(interval: Duration, subject: &str) -> String {
    format!("0 {}", every(interval, subject))
}

/// One field of a five-field cron schedule, as the set of values it matches.
fn field_values(field: &str, min: u32, max: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (r, st.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().ok()?, b.parse().ok()?)
        } else {
            let v: u32 = range.parse().ok()?;
            // `N/step` runs from N to the end of the range, as cron reads it.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return None;
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// A parsed five-field schedule (minute hour day-of-month month day-of-week), with cron's
/// rule that a restricted day-of-month and a restricted day-of-week match either.
#[derive(Clone, Debug)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Vec<u32>,
    months: Vec<u32>,
    weekdays: Vec<u32>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl Cron {
    /// Parses the five fields [`every`] writes (and the six of [`every_with_seconds`],
    /// whose seconds field is dropped); `None` for any other shape.
    pub fn parse(schedule: &str) -> Option<Cron> {
        let fields: Vec<&str> = schedule.split_whitespace().collect();
        let f: &[&str] = match fields.len() {
            5 => &fields,
            6 => &fields[1..],
            _ => return None,
        };
        let mut weekdays = field_values(f[4], 0, 7)?;
        // 7 is Sunday too.
        if weekdays.contains(&7) {
            weekdays.retain(|d| *d != 7);
            if !weekdays.contains(&0) {
                weekdays.insert(0, 0);
            }
        }
        Some(Cron {
            minutes: field_values(f[0], 0, 59)?,
            hours: field_values(f[1], 0, 23)?,
            days: field_values(f[2], 1, 31)?,
            months: field_values(f[3], 1, 12)?,
            weekdays,
            days_restricted: f[2] != "*",
            weekdays_restricted: f[4] != "*",
        })
    }

    fn matches_day(&self, month: u32, day: u32, weekday: u32) -> bool {
        if !self.months.contains(&month) {
            return false;
        }
        let dom = self.days.contains(&day);
        let dow = self.weekdays.contains(&weekday);
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// Every time the schedule fires in `[start_day, start_day + days)`, in seconds since
    /// the Unix epoch (UTC, as the rendered CronJobs' `timeZone` says), in order.
    pub fn firings(&self, start_day: i64, days: i64) -> Vec<i64> {
        let mut out = Vec::new();
        self.each_firing(start_day, days, |t| out.push(t));
        out
    }

    /// Calls `fire` with every time of [`Cron::firings`], in order, without keeping them:
    /// a schedule every few minutes fires tens of thousands of times in two years.
    fn each_firing(&self, start_day: i64, days: i64, mut fire: impl FnMut(i64)) {
        for day in start_day..start_day + days {
            let (_, month, dom) = civil_from_days(day);
            // 1970-01-01 was a Thursday (4).
            let weekday = u32::try_from((day + 4).rem_euclid(7)).unwrap_or(0);
            if !self.matches_day(month, dom, weekday) {
                continue;
            }
            for h in &self.hours {
                for m in &self.minutes {
                    fire(day * 86_400 + i64::from(*h) * 3600 + i64::from(*m) * 60);
                }
            }
        }
    }
}

/// Year, month and day of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The first day simulated: 2027-01-01, so the two years include a leap February.
pub const SIMULATION_START_DAY: i64 = 20_819;
/// Two years of days, plus the days before the first firing.
pub const SIMULATION_DAYS: i64 = 2 * 366;

/// The largest gap between two consecutive runs of `schedule` over two years of calendar
/// (every month length, a leap February, every weekday): what an alert on "time since the
/// last run" must allow, at the least. `None` when the schedule cannot be read or fires
/// fewer than twice.
pub fn largest_gap(schedule: &str) -> Option<Duration> {
    let mut last: Option<i64> = None;
    let mut gap: Option<i64> = None;
    Cron::parse(schedule)?.each_firing(SIMULATION_START_DAY, SIMULATION_DAYS, |t| {
        if let Some(before) = last {
            gap = gap.max(Some(t - before));
        }
        last = Some(t);
    });
    u64::try_from(gap?).ok().map(Duration::secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_fire_often_enough() {
        let fifteen = every(Duration::minutes(15), "a");
        assert!(fifteen.ends_with("-59/15 * * * *"), "{fifteen}");
        let four_hours = every(Duration::hours(4), "a");
        assert!(four_hours.contains("-23/4 * * *"), "{four_hours}");
        assert_eq!(
            every(Duration::days(14), "a")
                .split(' ')
                .nth(2)
                .map(|d| d.contains(',')),
            Some(true)
        );
        assert!(every(Duration::days(90), "a").ends_with("*/3 *"));
        assert_eq!(
            every_with_seconds(Duration::days(1), "a")
                .split(' ')
                .count(),
            6
        );
        assert_eq!(
            every(Duration::hours(1), "x"),
            every(Duration::hours(1), "x")
        );
    }

    #[test]
    fn the_calendar_is_the_proleptic_gregorian_one() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(SIMULATION_START_DAY), (2027, 1, 1));
        assert_eq!(
            civil_from_days(SIMULATION_START_DAY + 365 + 59),
            (2028, 2, 29)
        );
    }

    #[test]
    fn gaps_follow_the_calendar() {
        assert_eq!(largest_gap("0 3 12,26 * *"), Some(Duration::days(17)));
        assert_eq!(largest_gap("15 2 * * *"), Some(Duration::days(1)));
        assert_eq!(largest_gap("15 2 * * 3"), Some(Duration::days(7)));
        assert_eq!(largest_gap("7-59/15 * * * *"), Some(Duration::minutes(15)));
        assert_eq!(largest_gap("0 0 7 * * *"), Some(Duration::days(1)));
        // A monthly run on the 5th: 31-day gaps.
        assert_eq!(largest_gap("0 1 5 * *"), Some(Duration::days(31)));
        // Every third month: 92 days at most.
        assert_eq!(largest_gap("0 1 5 */3 *"), Some(Duration::days(92)));
        assert_eq!(largest_gap("not a schedule"), None);
    }
}
