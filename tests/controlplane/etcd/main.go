// Command etcd is the stock etcd server, built from the same module version
// that k8s.io/kubernetes pins, so the API server and its store always match.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
