//! CSV tracks: a header line naming the columns `time`, `lat` and `lon` (`alt`
//! optional; other columns ignored; any order, any case), then one point per line with
//! an RFC 3339 time and decimal degrees. Blank lines are skipped. Fields may be quoted.

use std::path::Path;

use super::{
    non_empty, read_point, Place, PointText, Problem, TrackError, TrackFormat, TrackPoint,
};

/// Column indices of a header line.
#[derive(Clone, Copy, Debug)]
struct Columns {
    time: usize,
    lat: usize,
    lon: usize,
    alt: Option<usize>,
}

fn fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| {
            let f = f.trim();
            f.strip_prefix('"')
                .and_then(|f| f.strip_suffix('"'))
                .unwrap_or(f)
        })
        .collect()
}

fn header(line: &str) -> Option<Columns> {
    let names: Vec<String> = fields(line)
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let find = |name: &str| names.iter().position(|n| n == name);
    Some(Columns {
        time: find("time")?,
        lat: find("lat")?,
        lon: find("lon")?,
        alt: find("alt"),
    })
}

/// The points, or `None` when the first line is neither a CSV header nor a CSV row.
pub(super) fn parse(file: &Path, text: &[u8]) -> Result<Option<Vec<TrackPoint>>, TrackError> {
    let err = |line: usize, problem: Problem| TrackError::At {
        file: file.to_path_buf(),
        format: TrackFormat::Csv,
        place: Place::Line(line),
        problem,
    };
    let mut lines = text
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()));
    let Some((first_no, first)) = lines.next() else {
        return Ok(None);
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return Ok(None);
    };
    let Some(columns) = header(first) else {
        // A row of data without its header: say so rather than "not a track".
        let f = fields(first);
        if f.len() >= 3 && verger::civil::parse_rfc3339(f[0]).is_some() {
            return Err(err(first_no, Problem::NoHeader));
        }
        return Ok(None);
    };
    let mut points: Vec<TrackPoint> = Vec::new();
    for (line_no, line) in lines {
        let line = String::from_utf8_lossy(line);
        let f = fields(&line);
        let text = PointText {
            time: f.get(columns.time).copied(),
            lat: f.get(columns.lat).copied(),
            lon: f.get(columns.lon).copied(),
            alt: columns
                .alt
                .map(|i| ("alt", f.get(i).copied().unwrap_or(""))),
        };
        let point = read_point(text, points.last()).map_err(|problem| err(line_no, problem))?;
        points.push(point);
    }
    let points = non_empty(file, TrackFormat::Csv, points, "row after the header")?;
    Ok(Some(points))
}
