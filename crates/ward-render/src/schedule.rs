//! Cron schedules from posture intervals. Start minutes and hours are spread by a hash of
//! the subject, so hundreds of environments do not all back up at the same second.

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
}
