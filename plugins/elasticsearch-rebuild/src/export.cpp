// The plugin's export: manifest and factory under the SDK's fixed aliases.
#include "tandem/sdk/export.h"
#include "es_rebuild_plugin.h"

TANDEM_PLUGIN(tandem::esrebuild::EsRebuildPlugin, "elasticsearch-rebuild", "0.1.0",
              "Rebuilds Elasticsearch indices from PostgreSQL after failover, swapping an alias atomically")
