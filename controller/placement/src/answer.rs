//! The answer to a request, in the spec's JSON shape and key order.

use serde::Serialize;

use crate::rules::StreetClass;
use crate::RequestError;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A basis of city property, street class, intersecting street or kiosk.
    Eligible,
    /// Only other-public or special-event bases: approval on request.
    NeedsRequest,
    /// Eligible or on request, but the view covers too much housing.
    NeedsReview,
    /// No basis: only a recorded override can approve it.
    NotEligible,
    /// A prohibited room, or covert, outside a criminal investigation.
    Prohibited,
}

/// A basis for placement. Declared in name order, so sorting by it sorts by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Inside a city_property polygon.
    CityProperty,
    /// On a non-eligible street near where it meets an eligible one or city property.
    IntersectingStreet,
    /// Within kiosk_radius_m of a 911 kiosk.
    #[serde(rename = "kiosk_911")]
    Kiosk911,
    /// Inside an other_public polygon.
    OtherPublic,
    /// The request is temporary.
    SpecialEvent,
    /// On a street of an eligible class.
    StreetClass,
}

/// A reason that changed the verdict, in the order of the steps that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Bathroom, locker room, office or conference room.
    ProhibitedRoom,
    /// Covert camera.
    Covert,
    /// The view's residential fraction exceeds the maximum.
    ResidentialView,
}

/// The nearest street of any class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestStreet {
    /// Its name, or null.
    pub name: Option<String>,
    /// Its class.
    pub class: StreetClass,
    /// Distance in metres, rounded to 0.01.
    pub distance_m: f64,
}

/// The answer to one request (field order is the spec's key order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The request's id.
    pub id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Every basis that holds, sorted by name.
    pub bases: Vec<Basis>,
    /// Reasons, in step order.
    pub reasons: Vec<Reason>,
    /// Nearest street, null when the layer has no street.
    pub nearest_street: Option<NearestStreet>,
    /// Residential share of the view, 4 decimals; null without a view.
    pub residential_fraction: Option<f64>,
}

impl Answer {
    /// One JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        // Serializing plain structs of strings and finite numbers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| error_json(Some(&self.id), &e.to_string()))
    }
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    id: Option<&'a str>,
    error: &'a str,
}

fn error_json(id: Option<&str>, error: &str) -> String {
    serde_json::to_string(&ErrorLine { id, error })
        .unwrap_or_else(|_| String::from(r#"{"id": null, "error": "unprintable error"}"#))
}

/// The answer line for a request that is not valid: `{"id": ..., "error": "..."}`.
pub fn error_line(e: &RequestError) -> String {
    error_json(e.id.as_deref(), &e.message)
}

/// Rounds a distance to 0.01 m.
pub fn round_distance(d: f64) -> f64 {
    (d * 100.0).round() / 100.0
}

/// Rounds a fraction to 4 decimals.
pub fn round_fraction(f: f64) -> f64 {
    (f * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_names() {
        let a = Answer {
            id: "ex-1".into(),
            verdict: Verdict::NeedsReview,
            bases: vec![Basis::Kiosk911, Basis::StreetClass],
            reasons: vec![Reason::ResidentialView],
            nearest_street: Some(NearestStreet {
                name: None,
                class: StreetClass::MinorArterial,
                distance_m: 7.4,
            }),
            residential_fraction: None,
        };
        assert_eq!(
            a.to_json_line(),
            r#"{"id":"ex-1","verdict":"needs_review","bases":["kiosk_911","street_class"],"reasons":["residential_view"],"nearest_street":{"name":null,"class":"minor_arterial","distance_m":7.4},"residential_fraction":null}"#
        );
        let e = RequestError {
            id: None,
            message: "missing id".into(),
        };
        assert_eq!(error_line(&e), r#"{"id":null,"error":"missing id"}"#);
    }

    #[test]
    fn bases_sort_by_name() {
        let mut all = [
            Basis::StreetClass,
            Basis::SpecialEvent,
            Basis::OtherPublic,
            Basis::Kiosk911,
            Basis::IntersectingStreet,
            Basis::CityProperty,
        ];
        all.sort();
        let names: Vec<String> = all
            .iter()
            .map(|b| {
                serde_json::to_value(b)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_distance(3.874999), 3.87);
        assert_eq!(round_distance(7.4049), 7.4);
        assert_eq!(round_fraction(0.431_749), 0.4317);
        assert_eq!(round_fraction(0.431_751), 0.4318);
    }
}
