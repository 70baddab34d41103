//! The sprayer's sections as the map sees them: where each one's nozzles are on the
//! machine and how far they reach. Read by `verger-map` (its `[[sections]]`) and by the
//! simulator's report, which places the nozzles on the true path the same way.

use serde::Deserialize;

use crate::contract::map::Side;

/// One sprayer section in the settings file.
///
/// ```toml
/// [[sections]]
/// id = "left"
/// side = "left"
/// forward_m = -3.5   # nozzles 3.5 m behind the antenna
/// lateral_m = 0.7    # 0.7 m out from the antenna, on the left
/// reach_m = 2.5      # sprays canopies whose centre is up to 2.5 m further out
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSettings {
    /// Its name, unique (`left`, `right`, `left.top`...).
    pub id: String,
    /// `left` or `right`.
    pub side: Side,
    /// Nozzles ahead of the GNSS antenna along the machine, metres (negative: behind).
    pub forward_m: f64,
    /// Nozzles out from the antenna towards the section's side, metres.
    pub lateral_m: f64,
    /// Farthest canopy centre across from the nozzles, metres.
    pub reach_m: f64,
    /// Lowest height sprayed, metres (vertical sections).
    #[serde(default)]
    pub bottom_m: Option<f64>,
    /// Highest height sprayed, metres.
    #[serde(default)]
    pub top_m: Option<f64>,
}

impl SectionSettings {
    /// A towed axial-fan sprayer behind a tractor with its antenna on the cab: nozzles
    /// 3.5 m behind the antenna, 0.7 m out on each side, reaching canopies 2.5 m further.
    pub fn defaults() -> Vec<SectionSettings> {
        Side::ALL
            .into_iter()
            .map(|side| SectionSettings {
                id: side.as_str().to_owned(),
                side,
                forward_m: -3.5,
                lateral_m: 0.7,
                reach_m: 2.5,
                bottom_m: None,
                top_m: None,
            })
            .collect()
    }
}
