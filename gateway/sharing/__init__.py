"""Release of ALPR data to other agencies: `requests` (the written request, its approval or
denial, the MOU rule and the secondary dissemination log), `export` (the package with its manifest
and cover sheet) and `release` (the two together)."""
