//! The synthetic-orchard generator on small orchards: determinism, counts, the CSV
//! writer, refused parameters, and the size of the 1,000 ha benchmark orchard.

use std::collections::HashMap;

use serde_json::Value;
use verger_sim::orchard::{
    benchmark_1000ha, demo_orchard, orchard_geojson, write_geojson, write_trees_csv, Bands,
    BlockParams, Edge, GenerateError, NoSprayStrip, OrchardParams, ParamsError, ReplantGap, Side,
    Span, Variation, CSV_HEADER,
};

/// Two blocks of three rows of 21 trees (20 m at 1 m), no random gaps, one gap of 3.
fn small() -> OrchardParams {
    let block = |id: &str, spacing: f64| BlockParams {
        id: id.into(),
        name: format!("block {id}"),
        variety: "Gala".into(),
        planting_year: 2015,
        rootstock: None,
        rows: 3,
        row_spacing_m: spacing,
        tree_spacing_m: 1.0,
        canopy_height_m: Span { min: 2.5, max: 3.5 },
        canopy_width_m: Span { min: 0.8, max: 1.6 },
        fruit_count: Span {
            min: 50.0,
            max: 200.0,
        },
    };
    OrchardParams {
        name: "small".into(),
        crop: "apple".into(),
        eppo_code: "MABSD".into(),
        parcel_ref: "none".into(),
        origin_lat: 47.3,
        origin_lon: -0.6,
        row_bearing_deg: 33.0,
        row_length_m: 20.0,
        headland_start_m: 8.0,
        headland_end_m: 9.0,
        left_edge: Edge {
            at_start_m: 3.0,
            at_end_m: 3.0,
        },
        right_edge: Edge {
            at_start_m: 3.0,
            at_end_m: 6.0,
        },
        blocks: vec![block("N", 4.0), block("S", 3.5)],
        bands: None,
        missing_rate: 0.0,
        replant_gaps: vec![ReplantGap {
            block: "S".into(),
            row: 2,
            first_tree: 5,
            count: 3,
        }],
        no_spray: Some(NoSprayStrip {
            id: "z1".into(),
            reason: "well".into(),
            side: Side::Left,
            width_m: 2.0,
        }),
        variation: Variation {
            trend_across_per_100m: 0.2,
            trend_along_per_100m: 0.0,
            patch_amplitude: 0.1,
            patch_wavelength_m: 30.0,
            tree_noise: 0.1,
            fruit_noise: 0.1,
        },
        seed: 5,
    }
}

fn geojson_bytes(p: &OrchardParams) -> Vec<u8> {
    let mut out = Vec::new();
    write_geojson(p, &mut out).unwrap();
    out
}

fn kinds(doc: &Value) -> HashMap<String, Vec<&Value>> {
    let mut by_kind: HashMap<String, Vec<&Value>> = HashMap::new();
    for f in doc["features"].as_array().unwrap() {
        let kind = f["properties"]["kind"].as_str().unwrap().to_owned();
        by_kind.entry(kind).or_default().push(f);
    }
    by_kind
}

#[test]
fn output_depends_on_the_seed_only() {
    let p = small();
    assert_eq!(geojson_bytes(&p), geojson_bytes(&p));
    assert_eq!(
        geojson_bytes(&demo_orchard()),
        geojson_bytes(&demo_orchard())
    );
    let mut other = p.clone();
    other.seed += 1;
    assert_ne!(geojson_bytes(&p), geojson_bytes(&other));
}

#[test]
fn the_written_file_and_the_value_agree() {
    let p = small();
    let read: Value = serde_json::from_slice(&geojson_bytes(&p)).unwrap();
    assert_eq!(read, orchard_geojson(&p).unwrap());
}

#[test]
fn counts_follow_the_parameters() {
    let p = small();
    let doc = orchard_geojson(&p).unwrap();
    let by_kind = kinds(&doc);
    let count = |k: &str| by_kind.get(k).map_or(0, Vec::len);
    assert_eq!(count("orchard"), 1);
    assert_eq!(count("boundary"), 1);
    assert_eq!(count("no_spray"), 1);
    assert_eq!(count("block"), 2);
    assert_eq!(count("row"), 6);
    assert_eq!(count("tree"), 6 * 21 - 3);
    let ids: Vec<&str> = by_kind["tree"]
        .iter()
        .map(|t| t["properties"]["id"].as_str().unwrap())
        .collect();
    for gap in ["S-02-005", "S-02-006", "S-02-007"] {
        assert!(!ids.contains(&gap), "{gap} should be missing");
    }
    assert!(ids.contains(&"S-02-004") && ids.contains(&"S-02-008"));
    let s = p.summary().unwrap();
    assert_eq!(
        (s.blocks, s.rows, s.tree_positions, s.trees, s.missing),
        (2, 6, 126, 123, 3)
    );
    // Width: 3 m + 2 × 4 m + 3.5 m + 2 × 3.5 m + 3 to 6 m; length 8 + 20 + 9 m.
    let expected = (3.0 + 18.5 + 4.5) * 37.0;
    assert!(
        (s.area_m2 - expected).abs() < 1e-6,
        "{} vs {expected}",
        s.area_m2
    );

    // Random gaps: about the rate asked for, and the trees plus the gaps fill the rows.
    let mut sparse = p.clone();
    sparse.missing_rate = 0.1;
    sparse.blocks[0].rows = 40;
    let s = sparse.summary().unwrap();
    assert_eq!(s.trees + s.missing, s.tree_positions);
    let random = (s.missing - 3) as f64 / s.tree_positions as f64;
    assert!((0.07..0.13).contains(&random), "{random}");
    let written = write_geojson(&sparse, std::io::sink()).unwrap();
    assert_eq!(written, s.trees);
}

#[test]
fn rows_run_at_the_bearing_asked_for() {
    let p = small();
    let doc = orchard_geojson(&p).unwrap();
    let frame = verger::orchard::Frame::new(p.origin_lat, p.origin_lon);
    for row in &kinds(&doc)["row"] {
        let c = &row["geometry"]["coordinates"];
        let at = |i: usize| frame.to_local(c[i][1].as_f64().unwrap(), c[i][0].as_f64().unwrap());
        let d = at(1) - at(0);
        let bearing = d.x.atan2(d.y).to_degrees();
        // Coordinates are rounded to about 1 cm: 0.05° over 20 m.
        assert!((bearing - 33.0).abs() < 0.05, "{bearing}");
        assert!((d.x.hypot(d.y) - 20.0).abs() < 0.02);
    }
}

#[test]
fn the_csv_holds_the_same_trees() {
    let p = small();
    let mut out = Vec::new();
    let written = write_trees_csv(&p, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, written);
    assert_eq!(written, 6 * 21 - 3);
    let doc = orchard_geojson(&p).unwrap();
    for (csv, feature) in rows.iter().zip(&kinds(&doc)["tree"]) {
        assert_eq!(csv.len(), 8);
        let props = &feature["properties"];
        let coords = &feature["geometry"]["coordinates"];
        assert_eq!(csv[0], props["id"]);
        assert_eq!(csv[1], props["row"]);
        let n = |i: usize| csv[i].parse::<f64>().unwrap();
        assert_eq!(n(2), coords[1].as_f64().unwrap());
        assert_eq!(n(3), coords[0].as_f64().unwrap());
        assert_eq!(n(4), props["fruit_count"].as_f64().unwrap());
        assert_eq!(n(5), props["canopy_height_m"].as_f64().unwrap());
        assert_eq!(n(6), props["canopy_width_m"].as_f64().unwrap());
        assert_eq!(n(7), props["canopy_volume_m3"].as_f64().unwrap());
    }
}

#[test]
fn bands_follow_each_other_along_the_rows() {
    let mut p = small();
    p.bands = Some(Bands {
        blocks_per_band: 1,
        headland_between_m: 12.0,
    });
    let s = p.summary().unwrap();
    // One block wide (3 + 8 + 3 to 6 m), two rows and a headland long.
    let expected = (3.0 + 8.0 + 4.5) * (8.0 + 20.0 + 12.0 + 20.0 + 9.0);
    assert!(
        (s.area_m2 - expected).abs() < 1e-6,
        "{} vs {expected}",
        s.area_m2
    );
    assert_eq!(s.tree_positions, 126);
}

#[test]
fn nonsense_parameters_are_refused() {
    let refuse = |change: &dyn Fn(&mut OrchardParams)| {
        let mut p = small();
        change(&mut p);
        let err = p.summary().unwrap_err();
        assert!(matches!(
            write_trees_csv(&p, std::io::sink()),
            Err(GenerateError::Params(e)) if format!("{e:?}") == format!("{err:?}")
        ));
        err
    };
    assert!(matches!(
        refuse(&|p| p.blocks[0].tree_spacing_m = -1.0),
        ParamsError::OutOfRange { .. }
    ));
    assert!(matches!(
        refuse(&|p| p.missing_rate = f64::NAN),
        ParamsError::OutOfRange { .. }
    ));
    assert_eq!(
        refuse(&|p| p.blocks[1].id = "N".into()),
        ParamsError::DuplicateBlock("N".into())
    );
    assert_eq!(
        refuse(&|p| p.blocks[1].id = "S 1".into()),
        ParamsError::BadBlockId("S 1".into())
    );
    assert!(matches!(
        refuse(&|p| p.replant_gaps[0].first_tree = 20),
        ParamsError::GapOutside { trees: 21, .. }
    ));
    assert_eq!(
        refuse(&|p| p.replant_gaps[0].block = "X".into()),
        ParamsError::UnknownBlock("X".into())
    );
    assert!(matches!(
        refuse(&|p| p.no_spray.as_mut().unwrap().width_m = 40.0),
        ParamsError::StripTooWide { .. }
    ));
    assert!(matches!(
        refuse(&|p| p.no_spray.as_mut().unwrap().reason = " ".into()),
        ParamsError::Empty(_)
    ));
    assert!(matches!(
        refuse(&|p| p.right_edge.at_end_m = 1.0),
        ParamsError::OutOfRange { .. }
    ));
    assert_eq!(refuse(&|p| p.blocks.clear()), ParamsError::NoBlocks);
}

#[test]
fn the_benchmark_orchard_is_1000_ha_of_about_2_million_trees() {
    let s = benchmark_1000ha().summary().unwrap();
    let ha = s.area_m2 / 10_000.0;
    assert!((950.0..1050.0).contains(&ha), "{ha} ha");
    assert!(
        (1_800_000..2_200_000).contains(&s.trees),
        "{} trees",
        s.trees
    );
    assert_eq!(s.blocks, 200);
    println!("benchmark orchard: {s:?}");
}
