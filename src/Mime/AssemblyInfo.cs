namespace Detach.Mime;
