//! Every map shipped in `maps/` imports (the rule of `maps/README.md`), and the demo
//! orchard is what its README says: a few hectares of apple with a boundary, a no-spray
//! buffer, blocks and rows, and trees carrying the attributes a dose model reads.

use verger::contract::map::BoundaryKind;
use verger::orchard::{ImportOptions, MapDb};
use verger_testkit::{project_root, TempDir};

#[test]
fn every_shipped_map_imports() {
    let dir = TempDir::new("shipped-maps");
    let mut imported = 0;
    for entry in std::fs::read_dir(project_root().join("maps")).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "geojson" | "json" | "csv") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let db = dir.path(&format!("{name}.db"));
        let summary = MapDb::import(
            &db,
            std::slice::from_ref(&path),
            &ImportOptions::default(),
            &mut |_| {},
        )
        .unwrap_or_else(|e| panic!("maps/{name} does not import: {e}"));
        let info = MapDb::open_read_only(&db).unwrap().info().unwrap();
        assert!(info.trees > 0, "maps/{name}: no trees ({summary})");
        assert_ne!(info.boundary, BoundaryKind::None, "maps/{name}");
        imported += 1;
    }
    assert!(imported >= 1, "no map in maps/");
}

#[test]
fn the_demo_orchard_is_what_its_readme_says() {
    let dir = TempDir::new("demo-orchard");
    let db = dir.path("demo.db");
    MapDb::import(
        &db,
        &[project_root().join("maps/demo-orchard.geojson")],
        &ImportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let map = MapDb::open_read_only(&db).unwrap();
    let info = map.info().unwrap();
    assert_eq!(info.boundary, BoundaryKind::Imported);
    let ha = info.boundary_area_ha.unwrap();
    assert!((2.0..=5.0).contains(&ha), "{ha} ha");
    assert_eq!(info.zones, 1);
    assert_eq!(info.blocks, 2);
    assert_eq!(info.rows, 42);
    assert!(info.trees > 4000, "{}", info.trees);
    assert_eq!(info.orchard.crop.as_deref(), Some("apple"));
    assert_eq!(info.orchard.eppo_code.as_deref(), Some("MABSD"));
    assert!(info.total_fruit_count > 0.0 && info.total_canopy_volume_m3 > 0.0);
    let zone = &map.zones().unwrap()[0];
    assert!(!zone.reason.is_empty());
}
