return Control.Commands.Cli.Run(args, new Control.Commands.CliContext());
