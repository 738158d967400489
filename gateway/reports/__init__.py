"""Reports for the public and the advisory board: `figures` (the counts, from the read store, the
audit log, the dissemination log and the config), `charts` (inline SVG bar charts), `transparency`
(a static offline site) and `board` (the annual advisory-board report)."""
