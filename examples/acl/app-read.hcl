# What an application's token may do: read the KV store's app/ keys, nothing else.
key_prefix "app/" {
  policy = "read"
}
