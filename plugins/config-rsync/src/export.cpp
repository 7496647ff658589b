// The plugin's only exported symbols (manifest and factory).
#include "tandem/sdk/export.h"
#include "config_rsync_plugin.h"

TANDEM_PLUGIN(tandem::config_rsync::ConfigRsyncPlugin, "config-rsync", "0.1.0",
              "Secondary pulls configuration trees from the primary with rsync, within seconds")
