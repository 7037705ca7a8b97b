# A client of region europe, as the article's client config: it runs docker tasks. Give each
# client on this machine its own -node and -data-dir.
region     = "europe"
datacenter = "europe-west1"
bind_addr  = "127.0.0.1"

ports {
  http = 0
}

client {
  enabled = true
  servers = ["127.0.0.1:6646"]
}

tls {
  enabled = false
}

acl {
  enabled = false
}
