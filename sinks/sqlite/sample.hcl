sink "sqlite" "archive" {
  # A relative path is taken from the folder of this file.
  path      = "/srv/satellite/archive.db"
  # Rows older than this are deleted; default "168h".
  retention = "720h"
}
