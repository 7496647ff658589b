// The plugin's export: manifest and factory under the SDK's fixed aliases.
#include "tandem/sdk/export.h"
#include "postgres_wal_plugin.h"

TANDEM_PLUGIN(tandem::pgwal::PostgresWalPlugin, "postgres-wal", "0.1.0",
              "PostgreSQL streaming replication: standby set-up, lag, promote, switchover, rejoin with pg_rewind")
