//! The dose models: how much liquid one side of one tree gets, from the tree's attributes
//! and the spray window. Pure: plain values in, a decision out; documented with their
//! sources in `docs/dose.md`.
//!
//! Three models, chosen and parameterised at run time:
//!
//! - **Fruit load** (the tutorial's example, our rule): `base_l + l_per_100_fruit ×
//!   fruit_count / 100`, for one side. A tree without a fruit count gets `base_l` plus the
//!   model's `missing_fruit_count` assumption.
//! - **Canopy volume** (tree-row-volume, after Byers et al. 1971 and Sutton & Unrath
//!   1984: litres per cubic metre of canopy): `l_per_m3 × canopy_volume_m3 ×
//!   side_share × band_share`. `side_share` is ½ (one side of the tree per window);
//!   `band_share` is the part of the canopy's height the section's band covers (1 for a
//!   whole-side section). A tree without a volume uses height × width × width.
//! - **Constant rate** (litres per hectare, the baseline a grower compares against):
//!   the ground the window covers, `window_length_m × row_spacing_m / 2` (half the alley
//!   on each side), × `l_per_ha / 10 000`. It ignores the tree.
//!
//! Then, for all models: the volume is clamped to `[min_l, max_l]` (each clamp says so);
//! the flow is that volume over the window's duration; a flow above the section's
//! capacity is clamped to it, and the decision says the tree is under-dosed, by how much.

/// Which clamp, if any, set the volume.
pub use verger::contract::dose::Clamp;
use verger::contract::dose::ModelName;
/// Which model, with its parameters: the settings' own enum (`model` of the contract's
/// dose settings), so the settings are the model with nothing to map.
pub use verger::contract::dose::ModelSettings as Model;

/// What a model reads of the tree.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TreeAttributes {
    /// Fruit counted or estimated.
    pub fruit_count: Option<f64>,
    /// Canopy height, metres.
    pub canopy_height_m: Option<f64>,
    /// Canopy width, metres.
    pub canopy_width_m: Option<f64>,
    /// Canopy volume, m³.
    pub canopy_volume_m3: Option<f64>,
}

/// The section's height band and capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SectionLimits {
    /// Lowest height sprayed, metres (`None`: the ground).
    pub bottom_m: Option<f64>,
    /// Highest height sprayed, metres (`None`: no limit).
    pub top_m: Option<f64>,
    /// Most the section's nozzles deliver, L/min.
    pub max_flow_l_min: f64,
}

/// The window: how long and how far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSpan {
    /// Seconds from open to close (> 0).
    pub duration_s: f64,
    /// Metres the nozzles travel meanwhile.
    pub length_m: f64,
}

/// Clamps on the volume of one side of one tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamps {
    /// Never less than this, litres.
    pub min_l: f64,
    /// Never more than this, litres.
    pub max_l: f64,
}

/// The decision for one side of one tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The model used.
    pub model: ModelName,
    /// What the model asked, litres (before the clamps).
    pub model_l: f64,
    /// What should go on the tree, litres (after the clamps).
    pub intended_l: f64,
    /// Which clamp applied.
    pub clamped: Clamp,
    /// The flow ordered, L/min.
    pub flow_l_min: f64,
    /// What that flow delivers over the window, litres (less than intended when the
    /// nozzles cannot deliver it).
    pub volume_l: f64,
    /// The nozzles' capacity limited the flow: the tree gets `volume_l`, not
    /// `intended_l`.
    pub under_dosed: bool,
}

/// The share of a canopy of `height` that a band covers (1 without a band or height).
pub fn band_share(height: Option<f64>, bottom: Option<f64>, top: Option<f64>) -> f64 {
    let Some(h) = height.filter(|h| *h > 0.0) else {
        return 1.0;
    };
    let low = bottom.unwrap_or(0.0).clamp(0.0, h);
    let high = top.unwrap_or(h).clamp(0.0, h);
    ((high - low) / h).max(0.0)
}

/// The decision of `model` for one side of a tree.
pub fn decide(
    model: &Model,
    tree: &TreeAttributes,
    section: &SectionLimits,
    window: &WindowSpan,
    clamps: &Clamps,
) -> Decision {
    let model_l = match model {
        Model::FruitLoad {
            base_l,
            l_per_100_fruit,
            missing_fruit_count,
        } => {
            let fruit = tree.fruit_count.unwrap_or(*missing_fruit_count).max(0.0);
            base_l + l_per_100_fruit * fruit / 100.0
        }
        Model::CanopyVolume {
            l_per_m3,
            missing_volume_m3,
        } => {
            let volume = tree
                .canopy_volume_m3
                .or_else(|| {
                    let (h, w) = (tree.canopy_height_m?, tree.canopy_width_m?);
                    Some(h * w * w)
                })
                .unwrap_or(*missing_volume_m3)
                .max(0.0);
            let band = band_share(tree.canopy_height_m, section.bottom_m, section.top_m);
            l_per_m3 * volume * 0.5 * band
        }
        Model::ConstantRate {
            l_per_ha,
            row_spacing_m,
        } => l_per_ha * window.length_m.max(0.0) * row_spacing_m / 2.0 / 10_000.0,
    };
    let (intended_l, clamped) = if model_l < clamps.min_l {
        (clamps.min_l, Clamp::Min)
    } else if model_l > clamps.max_l {
        (clamps.max_l, Clamp::Max)
    } else {
        (model_l, Clamp::None)
    };
    let minutes = window.duration_s / 60.0;
    let wanted = if minutes > 0.0 {
        intended_l / minutes
    } else {
        f64::INFINITY
    };
    let (flow_l_min, under_dosed) = if wanted > section.max_flow_l_min {
        (section.max_flow_l_min, true)
    } else {
        (wanted, false)
    };
    Decision {
        model: model.name(),
        model_l,
        intended_l,
        clamped,
        flow_l_min,
        volume_l: flow_l_min * minutes,
        under_dosed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Clamps = Clamps {
        min_l: 0.0,
        max_l: 100.0,
    };
    const SECTION: SectionLimits = SectionLimits {
        bottom_m: None,
        top_m: None,
        max_flow_l_min: 20.0,
    };
    /// 1.2 m of hedge at 2 m/s: 0.6 s.
    const WINDOW: WindowSpan = WindowSpan {
        duration_s: 0.6,
        length_m: 1.2,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn tree() -> TreeAttributes {
        TreeAttributes {
            fruit_count: Some(150.0),
            canopy_height_m: Some(3.0),
            canopy_width_m: Some(1.2),
            canopy_volume_m3: Some(4.0),
        }
    }

    #[test]
    fn fruit_load() {
        // 0.05 L + 0.04 L per 100 fruit × 150 fruit = 0.11 L over 0.6 s = 11 L/min.
        let m = Model::FruitLoad {
            base_l: 0.05,
            l_per_100_fruit: 0.04,
            missing_fruit_count: 100.0,
        };
        let d = decide(&m, &tree(), &SECTION, &WINDOW, &WIDE);
        assert!(close(d.model_l, 0.11) && close(d.intended_l, 0.11));
        assert!(close(d.flow_l_min, 11.0) && close(d.volume_l, 0.11));
        assert_eq!(
            (d.model, d.clamped, d.under_dosed),
            (ModelName::FruitLoad, Clamp::None, false)
        );
        // No count: the assumption (100 fruit): 0.09 L.
        let bare = TreeAttributes::default();
        assert!(close(
            decide(&m, &bare, &SECTION, &WINDOW, &WIDE).model_l,
            0.09
        ));
    }

    #[test]
    fn canopy_volume() {
        // 0.1 L/m³ × 4 m³ × ½ side = 0.2 L; 20 L/min over 0.6 s, exactly the capacity.
        let m = Model::CanopyVolume {
            l_per_m3: 0.1,
            missing_volume_m3: 2.0,
        };
        let d = decide(&m, &tree(), &SECTION, &WINDOW, &WIDE);
        assert!(close(d.model_l, 0.2) && close(d.flow_l_min, 20.0), "{d:?}");
        assert!(!d.under_dosed);
        // A top section from 2 m: a third of the 3 m canopy.
        let top = SectionLimits {
            bottom_m: Some(2.0),
            ..SECTION
        };
        assert!(close(
            decide(&m, &tree(), &top, &WINDOW, &WIDE).model_l,
            0.2 / 3.0
        ));
        // No volume: height × width² = 3 × 1.44 = 4.32 m³ → 0.216 L.
        let t = TreeAttributes {
            canopy_volume_m3: None,
            ..tree()
        };
        assert!(close(
            decide(&m, &t, &SECTION, &WINDOW, &WIDE).model_l,
            0.216
        ));
        // Nothing known: the assumed 2 m³ → 0.1 L.
        let bare = TreeAttributes::default();
        assert!(close(
            decide(&m, &bare, &SECTION, &WINDOW, &WIDE).model_l,
            0.1
        ));
    }

    #[test]
    fn constant_rate() {
        // 1000 L/ha over 1.2 m × 4 m / 2 = 2.4 m² = 0.24 L, whatever the tree.
        let m = Model::ConstantRate {
            l_per_ha: 1000.0,
            row_spacing_m: 4.0,
        };
        let d = decide(&m, &TreeAttributes::default(), &SECTION, &WINDOW, &WIDE);
        assert!(close(d.model_l, 0.24), "{d:?}");
        // 0.24 L in 0.6 s is 24 L/min: above the 20 L/min the nozzles deliver.
        assert!(d.under_dosed);
        assert!(close(d.flow_l_min, 20.0) && close(d.volume_l, 0.2));
        assert!(close(d.intended_l, 0.24));
    }

    #[test]
    fn clamps() {
        let m = Model::FruitLoad {
            base_l: 0.0,
            l_per_100_fruit: 0.04,
            missing_fruit_count: 0.0,
        };
        let clamps = Clamps {
            min_l: 0.03,
            max_l: 0.05,
        };
        let few = TreeAttributes {
            fruit_count: Some(10.0),
            ..tree()
        };
        let d = decide(&m, &few, &SECTION, &WINDOW, &clamps);
        assert_eq!(d.clamped, Clamp::Min);
        assert!(close(d.intended_l, 0.03) && close(d.model_l, 0.004));
        let d = decide(&m, &tree(), &SECTION, &WINDOW, &clamps);
        assert_eq!(d.clamped, Clamp::Max);
        assert!(close(d.intended_l, 0.05));
    }

    #[test]
    fn band_shares() {
        assert!(close(band_share(Some(3.0), None, None), 1.0));
        assert!(close(band_share(Some(3.0), Some(1.5), None), 0.5));
        assert!(close(band_share(Some(3.0), None, Some(1.0)), 1.0 / 3.0));
        assert!(
            close(band_share(Some(3.0), Some(4.0), None), 0.0),
            "above the canopy"
        );
        assert!(
            close(band_share(None, Some(1.0), Some(2.0)), 1.0),
            "unknown height"
        );
    }

    #[test]
    fn a_window_of_no_time_gets_the_capacity_and_is_under_dosed() {
        let m = Model::ConstantRate {
            l_per_ha: 1000.0,
            row_spacing_m: 4.0,
        };
        let w = WindowSpan {
            duration_s: 0.0,
            length_m: 0.0,
        };
        let d = decide(&m, &tree(), &SECTION, &w, &WIDE);
        assert!(d.under_dosed && d.flow_l_min.is_finite() && d.volume_l == 0.0);
    }
}
