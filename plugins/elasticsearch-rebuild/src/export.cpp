// The plugin's export: manifest and factory under the SDK's fixed aliases.
#include "es_rebuild_plugin.h"
#include "tandem/sdk/export.h"

TANDEM_PLUGIN(tandem::esrebuild::EsRebuildPlugin, "elasticsearch-rebuild", "0.1.0",
              "Rebuilds Elasticsearch indices from PostgreSQL after failover, swapping an alias atomically")
