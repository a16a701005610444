package sqlitestore

import _ "modernc.org/sqlite"
