// `?modulePath` imports (a module bundled as its own file; its path at run time).
/// <reference types="electron-vite/node" />
