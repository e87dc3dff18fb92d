//! The web page `ratchet serve` answers at `/`: static files embedded in the binary (no build
//! step at run time, no CDN). The page calls the JSON routes of the service.

/// One embedded file: the path it is served at, its content type, its bytes.
pub struct Asset {
    /// Request path.
    pub path: &'static str,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// Body.
    pub body: &'static [u8],
}

/// Every embedded file.
pub const ASSETS: [Asset; 6] = [
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_bytes!("../web/index.html") },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/app.js"),
    },
    Asset {
        path: "/assets/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/style.css"),
    },
    Asset {
        path: "/assets/vendor/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "/assets/vendor/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/vendor/uPlot.min.css"),
    },
    Asset {
        path: "/assets/vendor/uPlot.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../web/vendor/uPlot.LICENSE"),
    },
];

/// The asset served at `path`.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
