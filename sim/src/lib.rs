//! The tractor simulator: virtual GNSS receiver and valve board (built in later issues).
