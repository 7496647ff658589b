// The plugin's export: manifest and factory under the SDK's fixed aliases.
#include "postgres_wal_plugin.h"
#include "tandem/sdk/export.h"

TANDEM_PLUGIN(tandem::pgwal::PostgresWalPlugin, "postgres-wal", "0.1.0",
              "PostgreSQL streaming replication: standby set-up, lag, promote, switchover, rejoin with pg_rewind")
