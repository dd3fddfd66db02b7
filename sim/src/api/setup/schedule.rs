//! The `Filter` of a scheduled trigger, checked as Octopus checks it. Fields are read by
//! their exact names, as Octopus's own clients send them, and any other field is ignored:
//! a `TimeZone` (spelt with a capital Z) is an unknown field, so a filter that carries only
//! it has no time zone and is refused as one without. (A .NET server might match field
//! names ignoring case; the simulator is the stricter server.) Filter types:
//! `ContinuousDailySchedule` (`Interval` one of `OnceDaily`, `OnceHourly` with an
//! `HourInterval`, `OnceEveryMinute` with a `MinuteInterval`; `DaysOfWeek`; optional
//! `RunAfter`/`RunUntil`), `CronExpressionSchedule` (six fields, seconds first) and
//! `OnceDailySchedule` (`StartTime`, `DaysOfWeek`); each needs a `Timezone`.

use serde_json::{Map, Value};

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const INTERVALS: [&str; 3] = ["OnceDaily", "OnceHourly", "OnceEveryMinute"];

/// The filter types the simulator knows.
pub(super) const FILTER_TYPES: [&str; 3] = [
    "ContinuousDailySchedule",
    "CronExpressionSchedule",
    "OnceDailySchedule",
];

/// Why `filter` is refused, or `Ok` when Octopus would take it.
pub(super) fn check(filter: Option<&Value>) -> Result<(), String> {
    let Some(filter) = filter.and_then(Value::as_object) else {
        return Err("A scheduled trigger needs a Filter.".into());
    };
    let kind = text(filter, "FilterType").unwrap_or("");
    if !FILTER_TYPES.contains(&kind) {
        return Err(format!(
            "'{kind}' is not a FilterType the simulator knows: use one of {}.",
            FILTER_TYPES.join(", ")
        ));
    }
    time_zone(filter)?;
    match kind {
        "ContinuousDailySchedule" => continuous(filter),
        "CronExpressionSchedule" => cron(filter),
        _ => {
            time_of_day(filter, "StartTime", true)?;
            days(filter)
        }
    }
}

fn text<'a>(filter: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    filter
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// `Timezone`: `UTC`, a Windows time-zone id (`... Standard Time`) or an IANA one
/// (`Area/City`).
fn time_zone(filter: &Map<String, Value>) -> Result<(), String> {
    let Some(zone) = text(filter, "Timezone") else {
        return Err("Timezone is required.".into());
    };
    let known = zone == "UTC"
        || zone.ends_with("Standard Time")
        || (zone.contains('/') && !zone.contains(' '));
    if known {
        Ok(())
    } else {
        Err(format!("'{zone}' is not a time zone."))
    }
}

fn continuous(filter: &Map<String, Value>) -> Result<(), String> {
    let interval = text(filter, "Interval").unwrap_or("");
    if !INTERVALS.contains(&interval) {
        return Err(format!(
            "The Interval must be one of {}; '{interval}' is not.",
            INTERVALS.join(", ")
        ));
    }
    let positive = |name: &str| match filter.get(name).and_then(Value::as_i64) {
        Some(n) if n > 0 => Ok(()),
        _ => Err(format!(
            "{name} must be a whole number above 0 for {interval}."
        )),
    };
    match interval {
        "OnceHourly" => positive("HourInterval")?,
        "OnceEveryMinute" => positive("MinuteInterval")?,
        _ => {}
    }
    time_of_day(filter, "RunAfter", false)?;
    time_of_day(filter, "RunUntil", false)?;
    days(filter)
}

/// A date and time of day as Octopus's schedules send them (`2026-01-01T09:00:00.000`,
/// perhaps with an offset); only its time counts.
fn time_of_day(filter: &Map<String, Value>, name: &str, required: bool) -> Result<(), String> {
    let Some(value) = filter.get(name).filter(|v| !v.is_null()) else {
        return if required {
            Err(format!("{name} is required."))
        } else {
            Ok(())
        };
    };
    let valid = value.as_str().is_some_and(|text| {
        let local = text.get(..19).unwrap_or(text);
        local.parse::<jiff::civil::DateTime>().is_ok()
    });
    if valid {
        Ok(())
    } else {
        Err(format!("{name} is not a valid date and time: {value}."))
    }
}

fn days(filter: &Map<String, Value>) -> Result<(), String> {
    let days: Vec<&Value> = filter
        .get("DaysOfWeek")
        .and_then(Value::as_array)
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    if days.is_empty() {
        return Err("Please choose at least one day of the week (DaysOfWeek).".into());
    }
    match days
        .iter()
        .find(|d| !d.as_str().is_some_and(|d| DAYS.contains(&d)))
    {
        Some(wrong) => Err(format!("{wrong} is not a day of the week.")),
        None => Ok(()),
    }
}

/// Octopus's cron: six fields, seconds first (`0 0 6 * * Mon-Fri`).
fn cron(filter: &Map<String, Value>) -> Result<(), String> {
    let Some(expression) = text(filter, "CronExpression") else {
        return Err("CronExpression is required.".into());
    };
    let fields = expression.split_whitespace().count();
    if fields == 6 {
        Ok(())
    } else {
        Err(format!(
            "The cron expression '{expression}' has {fields} fields; it needs 6, seconds first."
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn every_15_minutes() -> Value {
        json!({"FilterType": "ContinuousDailySchedule", "Timezone": "UTC", "Interval": "OnceEveryMinute",
               "MinuteInterval": 15, "RunAfter": "2026-01-01T00:00:00.000", "RunUntil": "2026-01-01T23:59:00.000",
               "DaysOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]})
    }

    #[test]
    fn every_n_minutes_is_taken_and_each_part_is_needed() {
        assert_eq!(check(Some(&every_15_minutes())), Ok(()));
        for (field, value, says) in [
            ("Timezone", json!(null), "Timezone is required"),
            ("Timezone", json!("Mars"), "not a time zone"),
            ("Interval", json!("OverMinutes"), "Interval must be one of"),
            ("MinuteInterval", json!(0), "MinuteInterval"),
            ("DaysOfWeek", json!([]), "DaysOfWeek"),
            ("DaysOfWeek", json!(["Funday"]), "not a day"),
            ("RunAfter", json!("soon"), "RunAfter"),
        ] {
            let mut filter = every_15_minutes();
            filter[field] = value;
            let refused = check(Some(&filter)).unwrap_err();
            assert!(refused.contains(says), "{field}: {refused}");
        }
    }

    #[test]
    fn a_time_zone_spelt_time_zone_is_no_time_zone() {
        let mut filter = every_15_minutes();
        filter.as_object_mut().unwrap().remove("Timezone");
        filter["TimeZone"] = json!("UTC");
        assert_eq!(check(Some(&filter)).unwrap_err(), "Timezone is required.");
    }

    #[test]
    fn cron_takes_six_fields_and_windows_zones() {
        let cron = |expression: &str| {
            check(Some(
                &json!({"FilterType": "CronExpressionSchedule", "CronExpression": expression,
                                "Timezone": "AUS Eastern Standard Time"}),
            ))
        };
        assert_eq!(cron("0 0 6 * * Mon-Fri"), Ok(()));
        assert!(cron("*/15 * * * *").unwrap_err().contains("needs 6"));
        let hourly = json!({"FilterType": "ContinuousDailySchedule", "Timezone": "Europe/London",
                            "Interval": "OnceHourly", "DaysOfWeek": ["Monday"]});
        assert!(check(Some(&hourly)).unwrap_err().contains("HourInterval"));
        assert!(
            check(Some(
                &json!({"FilterType": "DaysPerMonthSchedule", "Timezone": "UTC"})
            ))
            .unwrap_err()
            .contains("not a FilterType")
        );
    }
}
