//! Durations as runbook authors type them: `90s`, `45m`, `2h`, `1d` (one number, one unit).

use std::time::Duration;

/// Parses `<positive integer><s|m|h|d>`. The error text says what is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "'{text}' is not a duration: use a whole number and a unit, like 90s, 45m, 2h or 1d"
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let count: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if count == 0 {
        return Err(format!(
            "'{text}' is zero: a duration must be longer than that"
        ));
    }
    count
        .checked_mul(unit_secs)
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is too long"))
}

/// The shortest of the accepted spellings that says the same, for messages.
pub fn display(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_four_units() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("45m"), Ok(Duration::from_secs(2700)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in [
            "",
            "h",
            "10",
            "1.5h",
            "-1h",
            "2 h",
            "1w",
            "1h30m",
            "0m",
            "99999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn displays_the_shortest_form() {
        assert_eq!(display(Duration::from_secs(3600)), "1h");
        assert_eq!(display(Duration::from_secs(90)), "90s");
        assert_eq!(display(Duration::from_secs(86_400 * 2)), "2d");
    }

    #[test]
    fn a_hundred_years_is_the_limit() {
        assert_eq!(parse("36500d"), Ok(Duration::from_secs(36_500 * 86_400)));
        assert!(parse("36501d").is_err());
        assert_eq!(parse("12h"), Ok(Duration::from_secs(43_200)));
    }
}
