//! The city's rules file: parameters, the street-class map and the name property.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_yaml::Value;

use crate::PlacementError;

/// A street class, highest first (the order breaks nearest-street ties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreetClass {
    /// Motorways, trunks, primaries.
    Arterial,
    /// Secondaries.
    MinorArterial,
    /// Tertiaries.
    Collector,
    /// Residential and unclassified streets.
    Local,
    /// Service alleys.
    Alley,
}

impl StreetClass {
    /// Every class, highest first.
    pub const ALL: [StreetClass; 5] = [
        StreetClass::Arterial,
        StreetClass::MinorArterial,
        StreetClass::Collector,
        StreetClass::Local,
        StreetClass::Alley,
    ];

    /// The name used in rules files and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            StreetClass::Arterial => "arterial",
            StreetClass::MinorArterial => "minor_arterial",
            StreetClass::Collector => "collector",
            StreetClass::Local => "local",
            StreetClass::Alley => "alley",
        }
    }

    /// Parses a class name.
    pub fn parse(s: &str) -> Option<StreetClass> {
        StreetClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for StreetClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of the class map: all conditions must hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRule {
    /// Property name → accepted values (any one of them).
    pub when: BTreeMap<String, Vec<String>>,
    /// The class the rule gives.
    pub class: StreetClass,
}

impl ClassRule {
    fn new(conds: &[(&str, &[&str])], class: StreetClass) -> Self {
        ClassRule {
            when: conds
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
            class,
        }
    }
}

/// The placement rules: every parameter of spec/placement.md, the class map
/// and the name property. `Rules::default()` gives the spec's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rules {
    /// A camera is on a street within this distance of its centerline.
    pub street_buffer_m: f64,
    /// The street classes that are not Local.
    pub eligible_classes: Vec<StreetClass>,
    /// Reach of an intersecting street from its meeting part; `None` = whole feature.
    pub intersection_radius_m: Option<f64>,
    /// Two centerlines meet where they come within this distance.
    pub meet_tolerance_m: f64,
    /// Distance to a 911 kiosk.
    pub kiosk_radius_m: f64,
    /// The share of the view that may cover residential housing.
    pub residential_view_max_fraction: f64,
    /// Ordered class rules, first match wins.
    pub class_map: Vec<ClassRule>,
    /// The property holding a street's name.
    pub name_property: String,
}

impl Default for Rules {
    fn default() -> Self {
        use StreetClass::*;
        Rules {
            street_buffer_m: 25.0,
            eligible_classes: vec![Collector, MinorArterial, Arterial],
            intersection_radius_m: Some(60.0),
            meet_tolerance_m: 1.0,
            kiosk_radius_m: 30.0,
            residential_view_max_fraction: 0.2,
            class_map: vec![
                ClassRule::new(
                    &[(
                        "highway",
                        &[
                            "motorway",
                            "motorway_link",
                            "trunk",
                            "trunk_link",
                            "primary",
                            "primary_link",
                        ],
                    )],
                    Arterial,
                ),
                ClassRule::new(
                    &[("highway", &["secondary", "secondary_link"])],
                    MinorArterial,
                ),
                ClassRule::new(&[("highway", &["tertiary", "tertiary_link"])], Collector),
                ClassRule::new(
                    &[("highway", &["residential", "unclassified", "living_street"])],
                    Local,
                ),
                ClassRule::new(&[("highway", &["service"]), ("service", &["alley"])], Alley),
            ],
            name_property: "name".to_string(),
        }
    }
}

const KEYS: [&str; 8] = [
    "street_buffer_m",
    "eligible_classes",
    "intersection_radius_m",
    "meet_tolerance_m",
    "kiosk_radius_m",
    "residential_view_max_fraction",
    "class_map",
    "name_property",
];

impl Rules {
    /// Whether a class counts as eligible (not Local).
    pub fn is_eligible(&self, class: StreetClass) -> bool {
        self.eligible_classes.contains(&class)
    }

    /// Reads a rules file. Keys left out keep their defaults. Every problem
    /// found (unknown key or class, wrong type, out-of-range number) is
    /// reported at once, each with its path; `name` (the file) heads the error.
    pub fn from_yaml(bytes: &[u8], name: &str) -> Result<Rules, PlacementError> {
        let fail = |problems: Vec<String>| PlacementError::Rules {
            file: name.to_string(),
            problems,
        };
        let doc: Value = serde_yaml::from_slice(bytes).map_err(|e| fail(vec![e.to_string()]))?;
        let mut rules = Rules::default();
        let mut problems = Vec::new();
        let map = match doc {
            Value::Null => return Ok(rules),
            Value::Mapping(m) => m,
            other => {
                return Err(fail(vec![format!(
                    "expected a mapping at the top level, found {}",
                    kind(&other)
                )]))
            }
        };
        for (k, v) in &map {
            let Some(key) = k.as_str() else {
                problems.push(format!("key {k:?} is not a string"));
                continue;
            };
            match key {
                "street_buffer_m" => set_num(&mut rules.street_buffer_m, key, v, &mut problems),
                "meet_tolerance_m" => set_num(&mut rules.meet_tolerance_m, key, v, &mut problems),
                "kiosk_radius_m" => set_num(&mut rules.kiosk_radius_m, key, v, &mut problems),
                "residential_view_max_fraction" => {
                    set_num(
                        &mut rules.residential_view_max_fraction,
                        key,
                        v,
                        &mut problems,
                    );
                    if !(0.0..=1.0).contains(&rules.residential_view_max_fraction) {
                        problems.push(format!("{key}: must be between 0 and 1"));
                    }
                }
                "intersection_radius_m" => {
                    if v.is_null() {
                        rules.intersection_radius_m = None;
                    } else {
                        let mut r = 0.0;
                        set_num(&mut r, key, v, &mut problems);
                        rules.intersection_radius_m = Some(r);
                    }
                }
                "eligible_classes" => match v.as_sequence() {
                    Some(seq) => {
                        rules.eligible_classes = seq
                            .iter()
                            .enumerate()
                            .filter_map(|(i, c)| class_of(c, &format!("{key}[{i}]"), &mut problems))
                            .collect();
                    }
                    None => problems.push(format!(
                        "{key}: expected a list of classes, found {}",
                        kind(v)
                    )),
                },
                "name_property" => match v.as_str() {
                    Some(s) if !s.is_empty() => rules.name_property = s.to_string(),
                    _ => problems.push(format!(
                        "{key}: expected a property name, found {}",
                        kind(v)
                    )),
                },
                "class_map" => match v.as_sequence() {
                    Some(seq) => {
                        rules.class_map = seq
                            .iter()
                            .enumerate()
                            .filter_map(|(i, r)| {
                                class_rule(r, &format!("class_map[{i}]"), &mut problems)
                            })
                            .collect();
                    }
                    None => problems.push(format!(
                        "{key}: expected a list of rules, found {}",
                        kind(v)
                    )),
                },
                other => problems.push(format!(
                    "unknown key `{other}` (known: {})",
                    KEYS.join(", ")
                )),
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(fail(problems))
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn set_num(slot: &mut f64, path: &str, v: &Value, problems: &mut Vec<String>) {
    match v.as_f64() {
        Some(x) if x.is_finite() && x >= 0.0 => *slot = x,
        Some(_) => problems.push(format!("{path}: must be a number of at least 0")),
        None => problems.push(format!("{path}: expected a number, found {}", kind(v))),
    }
}

fn class_of(v: &Value, path: &str, problems: &mut Vec<String>) -> Option<StreetClass> {
    match v.as_str() {
        Some(s) => match StreetClass::parse(s) {
            Some(c) => Some(c),
            None => {
                problems.push(format!(
                    "{path}: unknown class `{s}` (known: arterial, minor_arterial, collector, local, alley)"
                ));
                None
            }
        },
        None => {
            problems.push(format!("{path}: expected a class name, found {}", kind(v)));
            None
        }
    }
}

fn class_rule(v: &Value, path: &str, problems: &mut Vec<String>) -> Option<ClassRule> {
    let Some(m) = v.as_mapping() else {
        problems.push(format!(
            "{path}: expected a mapping with `when` and `class`, found {}",
            kind(v)
        ));
        return None;
    };
    let mut when = None;
    let mut class = None;
    let before = problems.len();
    for (k, val) in m {
        match k.as_str() {
            Some("class") => class = class_of(val, &format!("{path}.class"), problems),
            Some("when") => match val.as_mapping() {
                Some(conds) if !conds.is_empty() => {
                    let mut out = BTreeMap::new();
                    for (prop, want) in conds {
                        let Some(prop) = prop.as_str() else {
                            problems.push(format!(
                                "{path}.when: property name {prop:?} is not a string"
                            ));
                            continue;
                        };
                        let p = format!("{path}.when.{prop}");
                        let values: Vec<String> = match want {
                            Value::Sequence(seq) if !seq.is_empty() => seq
                                .iter()
                                .filter_map(|x| scalar_text(x, &p, problems))
                                .collect(),
                            Value::Sequence(_) => {
                                problems.push(format!("{p}: empty list of values"));
                                continue;
                            }
                            x => scalar_text(x, &p, problems).into_iter().collect(),
                        };
                        out.insert(prop.to_string(), values);
                    }
                    when = Some(out);
                }
                _ => problems.push(format!(
                    "{path}.when: expected a non-empty mapping of property conditions, found {}",
                    kind(val)
                )),
            },
            _ => problems.push(format!("{path}: unknown key {k:?} (known: when, class)")),
        }
    }
    if !m.contains_key("when") {
        problems.push(format!("{path}: missing `when`"));
    }
    if !m.contains_key("class") {
        problems.push(format!("{path}: missing `class`"));
    }
    if problems.len() > before {
        return None;
    }
    Some(ClassRule {
        when: when?,
        class: class?,
    })
}

fn scalar_text(v: &Value, path: &str, problems: &mut Vec<String>) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            problems.push(format!(
                "{path}: expected a string or a list of strings, found {}",
                kind(other)
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_keeps_defaults() {
        assert_eq!(Rules::from_yaml(b"", "r.yaml").unwrap(), Rules::default());
        assert_eq!(Rules::from_yaml(b"{}", "r.yaml").unwrap(), Rules::default());
    }

    #[test]
    fn parameters_and_custom_class_map() {
        let y = b"street_buffer_m: 10\nintersection_radius_m: null\nname_property: STREET\nclass_map:\n  - when: {FUNC_CLASS: [\"Principal Arterial\", \"Minor Arterial\"]}\n    class: arterial\n  - when: {FUNC_CLASS: \"Local\", ALLEY: \"Y\"}\n    class: alley\n";
        let r = Rules::from_yaml(y, "r.yaml").unwrap();
        assert_eq!(r.street_buffer_m, 10.0);
        assert_eq!(r.intersection_radius_m, None);
        assert_eq!(r.meet_tolerance_m, 1.0);
        assert_eq!(r.name_property, "STREET");
        assert_eq!(r.class_map.len(), 2);
        assert_eq!(r.class_map[1].class, StreetClass::Alley);
        assert_eq!(r.class_map[1].when["ALLEY"], vec!["Y".to_string()]);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let y = b"street_bufer_m: 3\nkiosk_radius_m: -1\neligible_classes: [arterial, highway]\nclass_map:\n  - when: {highway: primary}\n    class: boulevard\n";
        let err = Rules::from_yaml(y, "city.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("city.yaml"), "{text}");
        assert!(text.contains("unknown key `street_bufer_m`"), "{text}");
        assert!(text.contains("kiosk_radius_m"), "{text}");
        assert!(
            text.contains("eligible_classes[1]: unknown class `highway`"),
            "{text}"
        );
        assert!(
            text.contains("class_map[0].class: unknown class `boulevard`"),
            "{text}"
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let err = Rules::from_yaml(b"street_buffer_m: [1,\n", "bad.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad.yaml") && text.contains("line"), "{text}");
    }
}
