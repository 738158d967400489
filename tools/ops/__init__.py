"""The commands that run the gateway and reach its data: gateway, hot lists, reads and hits, cloud."""
