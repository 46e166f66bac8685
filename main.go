// Command flowscape shows what programs are doing, live: see the README or
// run `flowscape help`.
package main

import (
	"os"

	"flowscape/app"
	_ "flowscape/internal/locale" // before fyne reads the locale
)

func main() {
	os.Exit(app.Main(os.Args[1:]))
}
