import { boot } from "../app.js";

boot({ needLogin: false });
