// The plugin's one export: manifest and factory under tandem's fixed aliases.
#include "tandem/sdk/export.h"
#include "echo_plugin.h"

TANDEM_PLUGIN(echo::EchoPlugin, "echo", "1.0.0", "Example plugin: echoes a message on every sync")
