//! Durations on the command line (`30s`, `10m`, `24h`, `30d`) and in output.

use std::time::Duration;

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// The longest duration accepted: far beyond anything the control plane allows, and small
/// enough that every conversion below is lossless.
const LONGEST_SECONDS: u64 = 100 * 366 * 86_400;

/// Parses a whole number followed by one unit: `s`, `m`, `h` or `d`. Used as a clap value
/// parser, so the error is the message clap prints after the flag name.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let usage = "expected a whole number followed by s, m, h or d, such as 30s, 10m, 24h or 30d";
    let text = text.trim();
    let Some(unit) = text.chars().last() else {
        return Err(usage.to_owned());
    };
    let Some(&(_, unit_seconds)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(usage.to_owned());
    };
    let number = &text[..text.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(usage.to_owned());
    }
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_seconds))
        .filter(|s| *s <= LONGEST_SECONDS)
        .ok_or_else(|| "too long: at most 36600d".to_owned())?;
    Ok(Duration::from_secs(seconds))
}

/// The wire form of a parsed duration.
pub(crate) fn to_proto(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

/// Shows a duration in the largest unit that divides it exactly, the way `parse` reads it:
/// 600 seconds is `10m`, 86400 seconds is `1d`.
pub(crate) fn format(duration: &prost_types::Duration) -> String {
    if duration.nanos != 0 || duration.seconds <= 0 {
        let seconds = duration.seconds as f64 + f64::from(duration.nanos) / 1e9;
        return format!("{seconds}s");
    }
    let seconds = duration.seconds.unsigned_abs();
    UNITS
        .iter()
        .find(|(_, unit_seconds)| seconds.is_multiple_of(*unit_seconds))
        .map(|(unit, unit_seconds)| format!("{}{unit}", seconds / unit_seconds))
        .unwrap_or_else(|| format!("{seconds}s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(text: &str) -> Result<u64, String> {
        parse(text).map(|d| d.as_secs())
    }

    fn shown(seconds: i64, nanos: i32) -> String {
        format(&prost_types::Duration { seconds, nanos })
    }

    #[test]
    fn each_unit_is_read_as_its_number_of_seconds() {
        assert_eq!(seconds("30s"), Ok(30));
        assert_eq!(seconds("10m"), Ok(600));
        assert_eq!(seconds("24h"), Ok(86_400));
        assert_eq!(seconds("30d"), Ok(2_592_000));
        assert_eq!(seconds("0s"), Ok(0));
    }

    #[test]
    fn a_number_without_a_unit_is_rejected() {
        assert!(seconds("600").is_err());
    }

    #[test]
    fn unknown_units_signs_fractions_and_blanks_are_rejected() {
        for text in [
            "", "s", "10w", "-5m", "+5m", "1.5h", "1h30m", "h10", "10 m", "١٠s",
        ] {
            assert!(seconds(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn absurdly_long_durations_are_rejected_instead_of_overflowing() {
        assert!(seconds("36601d").is_err());
        assert!(seconds("99999999999999999999d").is_err());
    }

    #[test]
    fn durations_are_shown_in_the_largest_exact_unit() {
        assert_eq!(shown(600, 0), "10m");
        assert_eq!(shown(86_400, 0), "1d");
        assert_eq!(shown(2_592_000, 0), "30d");
        assert_eq!(shown(5_400, 0), "90m");
        assert_eq!(shown(61, 0), "61s");
    }

    #[test]
    fn zero_and_fractional_durations_are_shown_in_seconds() {
        assert_eq!(shown(0, 0), "0s");
        assert_eq!(shown(1, 500_000_000), "1.5s");
    }

    #[test]
    fn a_shown_duration_parses_back_to_itself() {
        for text in ["45s", "10m", "36h", "365d"] {
            let parsed = parse(text).map(to_proto);
            assert_eq!(parsed.as_ref().map(format), Ok(text.to_owned()));
        }
    }
}
