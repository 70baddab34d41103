//! The trust rules: what one merged epoch may be published as.
//!
//! Every sentence that can veto a fix does so as it is merged ([`Merged::apply`]); a veto
//! is never undone by another sentence of the same epoch (the stricter source wins).
//!
//! | source | value | outcome |
//! |---|---|---|
//! | GGA quality | 1 | `autonomous` |
//! | | 2, 3 (PPS: a precise-code solution, at least as good as DGPS) | `dgps` |
//! | | 4 / 5 | `rtk_fixed` / `rtk_float` |
//! | | 6 | `dead_reckoning` (published; consumers decide) |
//! | | 0, empty, 9+ | no fix: `invalid` |
//! | | 7 / 8 | no fix: `manual_input` / `simulation` |
//! | | 1..=5 with 0 satellites used | no fix: `invalid` (as gpsd; a fix needs satellites) |
//! | RMC status | `V` or anything but `A` | no fix: `void` |
//! | RMC / GNS mode | A / D, P / R / F / E | autonomous / dgps / rtk_fixed / rtk_float / dead_reckoning |
//! | | N / V | no fix: `invalid` / `void` |
//! | | M / S | no fix: `manual_input` / `simulation` |
//! | GNS modes (one char per constellation) | any M or S | no fix (`manual_input`, `simulation`) |
//! | | otherwise the best valid char (R > F > D,P > A > E) | that quality |
//! | | all N (or empty) | no fix: `invalid` |
//! | any GGA, RMC or GNS with a malformed field | | no fix: `invalid` |
//! | no GGA/GNS/RMC position | | no fix: `no_position` |
//! | no time, or no date ever seen | | no fix: `no_time` |
//!
//! Quality comes from GGA when the epoch has one, else from GNS, else from the RMC mode
//! indicator (an RMC without one, NMEA < 2.3, with status `A`: `autonomous`). The other
//! sources only veto: a Trimble sends GGA quality 4 with RMC mode `D`, and that is an RTK
//! fixed solution. Vetoes are reported before `no_position`, which comes before `no_time`.
//! The position comes from GGA, else GNS, else RMC.

use super::sentence::{Gga, Gns, Rmc, Sentence, Vtg};
use super::{EpochOutcome, Fix, NoFixReason, Quality, UtcTime};

/// Metres per second in one knot.
pub const KNOT_MPS: f64 = 1852.0 / 3600.0;

/// Everything one epoch said, merged in arrival order (a later sentence of the same type
/// replaces the data of an earlier one; vetoes accumulate).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Merged {
    /// The epoch's GGA (the last one if several).
    pub gga: Option<Gga>,
    /// The epoch's RMC.
    pub rmc: Option<Rmc>,
    /// The epoch's VTG.
    pub vtg: Option<Vtg>,
    /// The epoch's GNS.
    pub gns: Option<Gns>,
    /// GST 1-sigma latitude error, metres.
    pub lat_err_m: Option<f64>,
    /// GST 1-sigma longitude error, metres.
    pub lon_err_m: Option<f64>,
    /// GST 1-sigma altitude error, metres.
    pub alt_err_m: Option<f64>,
    /// HDT or THS heading, degrees true.
    pub heading_deg: Option<f64>,
    /// The first reason any sentence gave to refuse a fix.
    pub veto: Option<NoFixReason>,
}

impl Merged {
    /// Merges one sentence.
    pub fn apply(&mut self, s: &Sentence) {
        let veto = match s {
            Sentence::Gga(g) => {
                self.gga = Some(*g);
                gga_veto(g)
            }
            Sentence::Rmc(r) => {
                self.rmc = Some(*r);
                rmc_veto(r)
            }
            Sentence::Gns(g) => {
                self.gns = Some(*g);
                gns_quality(g).err()
            }
            Sentence::Vtg(v) => {
                self.vtg = Some(*v);
                None
            }
            Sentence::Gst(g) => {
                self.lat_err_m = g.lat_err_m.or(self.lat_err_m);
                self.lon_err_m = g.lon_err_m.or(self.lon_err_m);
                self.alt_err_m = g.alt_err_m.or(self.alt_err_m);
                None
            }
            Sentence::Hdt(h) => {
                self.heading_deg = h.heading_deg.or(self.heading_deg);
                None
            }
            // THS: autonomous or estimated (INS) headings only.
            Sentence::Ths(t) => {
                if matches!(t.mode, Some(b'A' | b'E')) {
                    self.heading_deg = t.heading_deg.or(self.heading_deg);
                }
                None
            }
            Sentence::Zda(_) | Sentence::Other => None,
        };
        self.veto = self.veto.or(veto);
    }

    /// A GGA, RMC or GNS of this epoch had a malformed field: refuse the epoch.
    pub fn taint(&mut self) {
        self.veto = self.veto.or(Some(NoFixReason::Invalid));
    }

    /// Merges an epoch that arrived later (the late part wins, vetoes accumulate).
    pub fn absorb(&mut self, later: &Merged) {
        self.gga = later.gga.or(self.gga);
        self.rmc = later.rmc.or(self.rmc);
        self.vtg = later.vtg.or(self.vtg);
        self.gns = later.gns.or(self.gns);
        self.lat_err_m = later.lat_err_m.or(self.lat_err_m);
        self.lon_err_m = later.lon_err_m.or(self.lon_err_m);
        self.alt_err_m = later.alt_err_m.or(self.alt_err_m);
        self.heading_deg = later.heading_deg.or(self.heading_deg);
        self.veto = self.veto.or(later.veto);
    }
}

fn gga_quality(q: Option<u8>) -> Result<Quality, NoFixReason> {
    match q {
        Some(1) => Ok(Quality::Autonomous),
        Some(2 | 3) => Ok(Quality::Dgps),
        Some(4) => Ok(Quality::RtkFixed),
        Some(5) => Ok(Quality::RtkFloat),
        Some(6) => Ok(Quality::DeadReckoning),
        Some(7) => Err(NoFixReason::Manual),
        Some(8) => Err(NoFixReason::Simulation),
        _ => Err(NoFixReason::Invalid),
    }
}

fn gga_veto(g: &Gga) -> Option<NoFixReason> {
    match gga_quality(g.quality) {
        Err(r) => Some(r),
        Ok(q) if q != Quality::DeadReckoning && g.sats == Some(0) => Some(NoFixReason::Invalid),
        Ok(_) => None,
    }
}

/// The quality an NMEA 2.3+ mode indicator stands for.
pub fn mode_quality(c: u8) -> Result<Quality, NoFixReason> {
    match c {
        b'A' => Ok(Quality::Autonomous),
        b'D' | b'P' => Ok(Quality::Dgps),
        b'R' => Ok(Quality::RtkFixed),
        b'F' => Ok(Quality::RtkFloat),
        b'E' => Ok(Quality::DeadReckoning),
        b'V' => Err(NoFixReason::Void),
        b'M' => Err(NoFixReason::Manual),
        b'S' => Err(NoFixReason::Simulation),
        _ => Err(NoFixReason::Invalid),
    }
}

fn rmc_veto(r: &Rmc) -> Option<NoFixReason> {
    if r.status != Some(b'A') {
        return Some(NoFixReason::Void);
    }
    r.mode.and_then(|m| mode_quality(m).err())
}

fn rank(q: Quality) -> u8 {
    match q {
        Quality::RtkFixed => 4,
        Quality::RtkFloat => 3,
        Quality::Dgps => 2,
        Quality::Autonomous => 1,
        Quality::DeadReckoning => 0,
    }
}

/// GNS: any M or S refuses; else the best valid constellation mode; all N refuses.
pub fn gns_quality(g: &Gns) -> Result<Quality, NoFixReason> {
    let modes = g.modes.as_bytes();
    if modes.contains(&b'M') {
        return Err(NoFixReason::Manual);
    }
    if modes.contains(&b'S') {
        return Err(NoFixReason::Simulation);
    }
    let best = modes
        .iter()
        .filter_map(|&c| mode_quality(c).ok())
        .max_by_key(|&q| rank(q))
        .ok_or(NoFixReason::Invalid)?;
    if best != Quality::DeadReckoning && g.sats == Some(0) {
        return Err(NoFixReason::Invalid);
    }
    Ok(best)
}

fn vtg_valid(v: &Vtg) -> bool {
    v.mode != Some(b'N')
}

/// The outcome of an epoch: `time` is `None` when the epoch had no time or no date was
/// ever seen.
pub fn classify(m: &Merged, time: Option<UtcTime>) -> EpochOutcome {
    let no_fix = |reason| EpochOutcome::NoFix { reason, time };
    if let Some(reason) = m.veto {
        return no_fix(reason);
    }
    let quality = if let Some(g) = &m.gga {
        gga_quality(g.quality)
    } else if let Some(g) = &m.gns {
        gns_quality(g)
    } else if let Some(r) = &m.rmc {
        r.mode.map_or(Ok(Quality::Autonomous), mode_quality)
    } else {
        return no_fix(NoFixReason::NoPosition);
    };
    let quality = match quality {
        Ok(q) => q,
        Err(reason) => return no_fix(reason),
    };
    let position = [
        m.gga.and_then(|g| g.lat.zip(g.lon)),
        m.gns.and_then(|g| g.lat.zip(g.lon)),
        m.rmc.and_then(|r| r.lat.zip(r.lon)),
    ]
    .into_iter()
    .flatten()
    .next();
    let Some((lat, lon)) = position else {
        return no_fix(NoFixReason::NoPosition);
    };
    let Some(time) = time else {
        return no_fix(NoFixReason::NoTime);
    };
    let vtg = m.vtg.filter(vtg_valid);
    let speed_mps = m
        .rmc
        .and_then(|r| r.speed_kn)
        .or_else(|| vtg.and_then(|v| v.speed_kn))
        .map(|kn| kn * KNOT_MPS)
        .or_else(|| vtg.and_then(|v| v.speed_kmh).map(|k| k / 3.6));
    let course_deg = m
        .rmc
        .and_then(|r| r.course_deg)
        .or_else(|| vtg.and_then(|v| v.course_deg));
    let gga = m.gga.unwrap_or_default();
    let gns = m.gns.unwrap_or_default();
    EpochOutcome::Fix(Fix {
        time,
        lat,
        lon,
        alt_m: gga.alt_m.or(gns.alt_m),
        quality,
        sats: gga.sats.or(gns.sats),
        hdop: gga.hdop.or(gns.hdop),
        speed_mps,
        course_deg,
        heading_deg: m.heading_deg,
        lat_err_m: m.lat_err_m,
        lon_err_m: m.lon_err_m,
        alt_err_m: m.alt_err_m,
        diff_age_s: gga.diff_age_s.or(gns.diff_age_s),
    })
}
