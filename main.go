// Command flowscape shows what programs are doing, live: see the README or
// run `flowscape help`.
package main

import (
	"os"

	"flowscape/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:]))
}
