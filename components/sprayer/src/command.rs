//! What the sprayer accepts: every spray command is checked before it can move a valve,
//! so a dose module that goes wrong cannot make the sprayer misbehave. Pure: the command
//! as plain values, the GNSS time now, the machine's limits; the reason for a refusal
//! names the field at fault (it goes back as an `orchard.error.invalid_argument`).

use crate::schedule::Micros;

/// A section the sprayer drives.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionSpec {
    /// Its name (`left`, `right`...), as the map and dose module use it.
    pub id: String,
    /// Most its nozzles deliver, L/min.
    pub max_flow_l_min: f64,
}

/// The limits commands are held to.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The sections, in board output order.
    pub sections: Vec<SectionSpec>,
    /// Longest window accepted, µs (a tree is passed in about a second).
    pub max_window: Micros,
    /// Farthest ahead a window may open, µs.
    pub max_ahead: Micros,
}

/// A spray command as received (`orchard.sprayer.apply`), times already read as GNSS
/// microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply<'a> {
    /// The section's name.
    pub section: &'a str,
    /// The tree sprayed (required: nothing opens a valve without a tree).
    pub tree_id: &'a str,
    /// GNSS time spray must reach the canopy.
    pub open: Micros,
    /// GNSS time it must stop.
    pub close: Micros,
    /// Flow, L/min.
    pub flow_l_min: f64,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// No such section on this machine.
    #[error("section: no section {0:?} on this sprayer (it has {1})")]
    UnknownSection(String, String),
    /// No tree named.
    #[error("tree_id: missing (every spray must name the tree it treats)")]
    MissingTree,
    /// The flow is not a positive number.
    #[error("flow_l_min: {0} is not a flow (must be above 0)")]
    BadFlow(f64),
    /// Above what the section's nozzles deliver.
    #[error("flow_l_min: {flow} L/min is above the {max} L/min section {section:?} can deliver")]
    FlowAboveCapacity {
        /// The flow asked.
        flow: f64,
        /// The section's capacity.
        max: f64,
        /// The section.
        section: String,
    },
    /// `open` is not before `close`.
    #[error("close: the window closes before it opens")]
    Inverted,
    /// The window is already over.
    #[error("close: the window is already past ({0} ms ago)")]
    Past(i64),
    /// The window is longer than any tree takes.
    #[error("close: a window of {0} ms is longer than the {1} ms accepted")]
    TooLong(i64, i64),
    /// The window opens too far ahead.
    #[error("open: the window opens in {0} ms, beyond the {1} ms accepted")]
    TooFarAhead(i64, i64),
}

/// Check `cmd` at GNSS time `now`: the section's index if it may be scheduled.
pub fn check(cmd: &Apply<'_>, now: Micros, limits: &Limits) -> Result<usize, Refused> {
    let Some(index) = limits.sections.iter().position(|s| s.id == cmd.section) else {
        let names: Vec<&str> = limits.sections.iter().map(|s| s.id.as_str()).collect();
        return Err(Refused::UnknownSection(
            cmd.section.to_owned(),
            names.join(", "),
        ));
    };
    if cmd.tree_id.trim().is_empty() {
        return Err(Refused::MissingTree);
    }
    if !(cmd.flow_l_min.is_finite() && cmd.flow_l_min > 0.0) {
        return Err(Refused::BadFlow(cmd.flow_l_min));
    }
    let section = &limits.sections[index];
    if cmd.flow_l_min > section.max_flow_l_min {
        return Err(Refused::FlowAboveCapacity {
            flow: cmd.flow_l_min,
            max: section.max_flow_l_min,
            section: section.id.clone(),
        });
    }
    let ms = |us: Micros| us / 1000;
    if cmd.close <= cmd.open {
        return Err(Refused::Inverted);
    }
    if cmd.close <= now {
        return Err(Refused::Past(ms(now - cmd.close)));
    }
    if cmd.close - cmd.open > limits.max_window {
        return Err(Refused::TooLong(
            ms(cmd.close - cmd.open),
            ms(limits.max_window),
        ));
    }
    if cmd.open - now > limits.max_ahead {
        return Err(Refused::TooFarAhead(
            ms(cmd.open - now),
            ms(limits.max_ahead),
        ));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    fn limits() -> Limits {
        Limits {
            sections: vec![
                SectionSpec {
                    id: "left".into(),
                    max_flow_l_min: 20.0,
                },
                SectionSpec {
                    id: "right".into(),
                    max_flow_l_min: 20.0,
                },
            ],
            max_window: 10 * S,
            max_ahead: 30 * S,
        }
    }

    fn good() -> Apply<'static> {
        Apply {
            section: "right",
            tree_id: "B-07-042",
            open: 101 * S,
            close: 102 * S,
            flow_l_min: 12.0,
        }
    }

    #[test]
    fn a_good_command_gets_its_section() {
        assert_eq!(check(&good(), 100 * S, &limits()), Ok(1));
        // A window already open but not over is accepted (spray what is left).
        let running = Apply {
            open: 99 * S,
            ..good()
        };
        assert_eq!(check(&running, 100 * S, &limits()), Ok(1));
    }

    #[test]
    fn every_bad_field_is_refused_by_name() {
        let now = 100 * S;
        let cases: Vec<(Apply<'static>, &str)> = vec![
            (
                Apply {
                    section: "middle",
                    ..good()
                },
                "section",
            ),
            (
                Apply {
                    tree_id: "",
                    ..good()
                },
                "tree_id",
            ),
            (
                Apply {
                    tree_id: "  ",
                    ..good()
                },
                "tree_id",
            ),
            (
                Apply {
                    flow_l_min: 0.0,
                    ..good()
                },
                "flow_l_min",
            ),
            (
                Apply {
                    flow_l_min: f64::NAN,
                    ..good()
                },
                "flow_l_min",
            ),
            (
                Apply {
                    flow_l_min: -3.0,
                    ..good()
                },
                "flow_l_min",
            ),
            (
                Apply {
                    flow_l_min: 25.0,
                    ..good()
                },
                "flow_l_min",
            ),
            (
                Apply {
                    open: 102 * S,
                    close: 101 * S,
                    ..good()
                },
                "close",
            ),
            (
                Apply {
                    open: 90 * S,
                    close: 99 * S,
                    ..good()
                },
                "close",
            ),
            (
                Apply {
                    open: 101 * S,
                    close: 120 * S,
                    ..good()
                },
                "close",
            ),
            (
                Apply {
                    open: 200 * S,
                    close: 201 * S,
                    ..good()
                },
                "open",
            ),
        ];
        for (cmd, field) in cases {
            let e = check(&cmd, now, &limits()).expect_err(&format!("{cmd:?}"));
            assert!(e.to_string().starts_with(field), "{cmd:?}: {e}");
        }
    }

    #[test]
    fn the_refusal_says_what_the_machine_has() {
        let e = check(
            &Apply {
                section: "top",
                ..good()
            },
            100 * S,
            &limits(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "section: no section \"top\" on this sprayer (it has left, right)"
        );
        let e = check(
            &Apply {
                flow_l_min: 25.0,
                ..good()
            },
            100 * S,
            &limits(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("20 L/min"), "{e}");
    }
}
