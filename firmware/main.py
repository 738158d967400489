# Entry point on the board: everything else ships as .mpy (see firmware/README.md).
import app

app.main()
