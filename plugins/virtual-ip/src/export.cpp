// The plugin's only exported symbols (manifest and factory).
#include "tandem/sdk/export.h"
#include "virtual_ip_plugin.h"

TANDEM_PLUGIN(tandem::virtual_ip::VirtualIpPlugin, "virtual-ip", "0.1.0",
              "The primary holds a floating IPv4 address; demote and fencing drop it first")
