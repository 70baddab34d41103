//! GPX tracks (1.0 and 1.1): every `<trkpt lat=".." lon="..">` of every track and
//! segment, in file order, with its `<time>` (required) and `<ele>` (optional).
//! Namespaces and other elements are ignored; route and way points are not tracks.

use std::path::Path;

use super::{
    non_empty, read_point, Place, PointText, Problem, TrackError, TrackFormat, TrackPoint,
};

pub(super) fn parse(file: &Path, text: &[u8]) -> Result<Vec<TrackPoint>, TrackError> {
    let at = |place: Place, problem: Problem| TrackError::At {
        file: file.to_path_buf(),
        format: TrackFormat::Gpx,
        place,
        problem,
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return Err(TrackError::NotATrack {
            file: file.to_path_buf(),
            found: "XML that is not UTF-8".into(),
        });
    };
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        at(Place::Line(pos.row as usize), Problem::Xml(e.to_string()))
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "gpx" {
        return Err(TrackError::NotATrack {
            file: file.to_path_buf(),
            found: format!(
                "XML whose root element is <{}>, not <gpx>",
                root.tag_name().name()
            ),
        });
    }
    let mut points: Vec<TrackPoint> = Vec::new();
    for (i, node) in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "trkpt")
        .enumerate()
    {
        let place = Place::Point {
            index: i + 1,
            line: doc.text_pos_at(node.range().start).row as usize,
        };
        let child = |name: &str| {
            node.children()
                .find(|c| c.is_element() && c.tag_name().name() == name)
                .map(|c| c.text().unwrap_or(""))
        };
        let text = PointText {
            time: child("time"),
            lat: node.attribute("lat"),
            lon: node.attribute("lon"),
            alt: child("ele").map(|e| ("ele", e)),
        };
        let point = read_point(text, points.last()).map_err(|problem| at(place, problem))?;
        points.push(point);
    }
    non_empty(file, TrackFormat::Gpx, points, "track point (<trkpt>)")
}
