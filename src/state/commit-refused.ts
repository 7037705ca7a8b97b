import { RucheError } from "../structs/index.js";

/**
 * A commit the backend refused whole: none of the batch is on the disk, and the backend
 * takes the next commit (a full disk: writes succeed again once there is space). The store
 * rejects the batch's writes with it, keeps nothing of them, and goes on taking writes. Any
 * other failure of `Backend.commit` leaves it unknown whether the batch is on the disk, and
 * the store takes no more writes.
 */
export class CommitRefused extends RucheError {}
