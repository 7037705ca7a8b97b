# One of three servers on this machine (the reference article's file, paths and ports changed).
# Each server runs an etcd member of its own on ports http+1 (clients) and http+2 (peers),
# and the three form one etcd cluster once they have found each other through retry_join.
name       = "server-b"
region     = "europe"
datacenter = "europe-west1"
data_dir   = "/tmp/ruche-cluster/server-b"
bind_addr  = "127.0.0.1"

ports {
  http   = 5746
  consul = 5750
  dns    = 5753
}

server {
  enabled          = true
  bootstrap_expect = 3
  # The cluster key, the same on the three servers: they derive the cluster's CA from it.
  # This one is public, for this tour only: make your own with `ruche operator keygen`.
  encrypt          = "weKAkzGNIzyOEXF1YR/WQKYN/a+UdewfXF1opUODwX4="
  server_join {
    retry_join = ["127.0.0.1:5646", "127.0.0.1:5746", "127.0.0.1:5846"]
  }
}

consul {
  address = "127.0.0.1:8500"
}
